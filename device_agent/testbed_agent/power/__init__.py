"""Power and energy measurement for the device agent: sensors, sampling, the power record.

Importing the package registers every sensor. Standard library only (smbus2 is imported lazily
by the raw-I2C INA219 path alone).

    probe_all(root="/") -> {name: {"available": bool, "reason": str | None}}   # /v1/info
    make(name, settings, root="/") -> Sensor
    Sampler(sensor, rate_hz) ; sampler.summarize(inferences) -> record
    PowerMeter(profile_power_block).start() / .active() / .finish(inferences)  # the worker
"""

from . import (  # noqa: F401  (registration side effect)
    android_battery,
    estimate,
    external,
    ina219,
    ina3221,
    nosensor,
    pi5_pmic,
    pixel_odpm,
    rapl,
    tegrastats,
)
from .base import Reading, Sensor, SensorError
from .registry import get, make, names, probe_all, register
from .sampler import Sampler
from .session import PowerConfig, PowerMeter, missing_record
from .summary import Sample, summarize

__all__ = ["PowerConfig", "PowerMeter", "Reading", "Sample", "Sampler", "Sensor", "SensorError", "get",
           "make", "missing_record", "names", "probe_all", "register", "summarize"]
