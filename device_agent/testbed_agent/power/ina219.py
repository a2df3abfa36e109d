"""``ina219``: an external TI INA219 on I2C, through the kernel ``ina2xx`` hwmon driver or directly.

hwmon (driver bound): ``/sys/class/hwmon/hwmonN/`` with ``name`` = ``ina219`` and
``in0_input`` (shunt, mV), ``in1_input`` (bus, mV), ``curr1_input`` (mA), ``power1_input`` (uW).
The driver's shunt value is its ``shunt_resistor`` file (micro-ohms), set by the device tree.

i2c (no driver): registers read with smbus2 (imported only here), calibrated as in the datasheet
(``ina219_regs``). Settings: ``i2c_bus`` (1), ``address`` (0x40), ``shunt_ohms`` (0.1),
``max_current_a`` (3.2), optional ``current_lsb_a`` and ``config`` (written to 0x00).

``mode``: ``auto`` (hwmon when a device named ``hwmon_name`` exists, else i2c), ``hwmon`` or ``i2c``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from typing import Any

from . import ina219_regs as regs
from .base import Reading, Sensor, SensorError, Settings, read_number, read_text, under
from .registry import register


def find_hwmon(root: str, chip: str) -> str | None:
    """The first ``/sys/class/hwmon/hwmonN`` directory whose ``name`` is ``chip``."""
    for d in sorted(glob.glob(under(root, "/sys/class/hwmon/hwmon*"))):
        try:
            if read_text(os.path.join(d, "name")) == chip:
                return d
        except SensorError:
            continue
    return None


def _i2c_dev(root: str, settings: Settings) -> str:
    return under(root, f"/dev/i2c-{int(settings.get('i2c_bus', 1))}")


@register
class Ina219(Sensor):
    """INA219 current/power monitor (hwmon driver or raw I2C registers)."""

    name = "ina219"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        s = settings or {}
        mode, chip = s.get("mode", "auto"), s.get("hwmon_name", "ina219")
        if mode in ("auto", "hwmon") and find_hwmon(root, chip):
            return True, None
        if mode == "hwmon":
            return False, (f"no hwmon device named {chip!r} under /sys/class/hwmon "
                           "(is the ina2xx driver bound?)")
        dev = _i2c_dev(root, s)
        if not os.path.exists(dev):
            shown = dev.removeprefix(root.rstrip("/"))
            return False, (f"no hwmon device named {chip!r} and no {shown} "
                           "(enable I2C and wire the INA219, or bind the ina2xx driver)")
        if importlib.util.find_spec("smbus2") is None:
            return False, "smbus2 is not installed (pip install smbus2) for the raw I2C INA219 path"
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/", *, bus: Any = None) -> None:
        super().__init__(settings, root)
        s = self.settings
        mode = s.get("mode", "auto")
        self._hwmon = (None if mode == "i2c" or bus is not None
                       else find_hwmon(root, s.get("hwmon_name", "ina219")))
        self._bus: Any = None  # an smbus2.SMBus, or a stand-in passed by tests
        if self._hwmon is None:
            self.address = int(s.get("address", 0x40))
            self.calibration = regs.calibrate(float(s.get("shunt_ohms", 0.1)),
                                              float(s.get("max_current_a", 3.2)),
                                              s.get("current_lsb_a"))
            self._bus = bus if bus is not None else self._open_bus(int(s.get("i2c_bus", 1)))
            if "config" in s:
                self._write(regs.REG_CONFIG, int(s["config"]))
            self._write(regs.REG_CALIBRATION, self.calibration.cal)

    @staticmethod
    def _open_bus(number: int) -> Any:
        from smbus2 import SMBus  # lazy: only the raw I2C path needs it

        try:
            return SMBus(number)
        except OSError as exc:
            raise SensorError(f"cannot open /dev/i2c-{number}: {exc.strerror or exc}") from None

    def _read(self, reg: int) -> int:
        try:
            hi, lo = self._bus.read_i2c_block_data(self.address, reg, 2)
        except OSError as exc:
            raise SensorError(f"I2C read of register 0x{reg:02x} at 0x{self.address:02x} failed: "
                              f"{exc.strerror or exc}") from None
        return (hi << 8) | lo

    def _write(self, reg: int, value: int) -> None:
        try:
            self._bus.write_i2c_block_data(self.address, reg, [(value >> 8) & 0xFF, value & 0xFF])
        except OSError as exc:
            raise SensorError(f"I2C write of register 0x{reg:02x} failed: "
                              f"{exc.strerror or exc}") from None

    def read(self) -> Reading:
        if self._hwmon is not None:
            return Reading(watts=read_number(os.path.join(self._hwmon, "power1_input")) / 1e6)
        bus_raw = self._read(regs.REG_BUS)
        if regs.bus_overflow(bus_raw):
            raise SensorError("INA219 math overflow (OVF): the current exceeds the calibrated range; "
                              "raise max_current_a")
        return Reading(watts=regs.power_watts(self._read(regs.REG_POWER), self.calibration))

    def read_all(self) -> dict[str, float]:
        """Every quantity at once: shunt_mv, bus_mv, current_ma, power_mw (for checks and logs)."""
        if self._hwmon is not None:
            files = {"shunt_mv": "in0_input", "bus_mv": "in1_input", "current_ma": "curr1_input"}
            out = {k: read_number(os.path.join(self._hwmon, f)) for k, f in files.items()}
            out["power_mw"] = read_number(os.path.join(self._hwmon, "power1_input")) / 1e3
            return out
        c = self.calibration
        return {"shunt_mv": regs.shunt_volts(self._read(regs.REG_SHUNT)) * 1e3,
                "bus_mv": regs.bus_volts(self._read(regs.REG_BUS)) * 1e3,
                "current_ma": regs.current_amps(self._read(regs.REG_CURRENT), c) * 1e3,
                "power_mw": regs.power_watts(self._read(regs.REG_POWER), c) * 1e3}

    def describe(self) -> str:
        if self._hwmon is not None:
            return f"INA219 via the ina2xx hwmon driver ({os.path.basename(self._hwmon)}), power1_input"
        return (f"INA219 at 0x{self.address:02x} over I2C, shunt {self.calibration.shunt_ohms} ohm, "
                f"Cal {self.calibration.cal}, power register")

    def close(self) -> None:
        if self._bus is not None and hasattr(self._bus, "close"):
            self._bus.close()
        self._bus = None
