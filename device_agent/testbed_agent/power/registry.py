"""Registry of power sensors by name (``testbed_agent.registry.Registry``); each sensor module
registers its class with ``@register``, plug-in distributions through the
``testbed.power_sensors`` entry-point group (docs/plugins.md).

The name in a profile (``power: {sensors: [ina219]}``) is the registry name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..registry import Registry
from .base import Sensor, SensorError

SENSORS: Registry[type[Sensor]] = Registry("power sensor", "testbed.power_sensors")
_SENSORS = SENSORS  # read by name below, as a mapping

register = SENSORS.register
get = SENSORS.get
names = SENSORS.names


def make(name: str, settings: Mapping[str, Any] | None = None, root: str = "/") -> Sensor:
    """Open the sensor ``name`` with its ``settings``.

    Raises KeyError for an unknown name, SensorError when the sensor cannot be opened here
    (with the reason ``available()`` gives), ValueError for bad settings.
    """
    cls = get(name)
    ok, reason = cls.available(root, settings)
    if not ok:
        raise SensorError(f"{name}: {reason}")
    return cls(settings, root)


def probe_all(root: str = "/") -> dict[str, dict[str, Any]]:
    """``{name: {"available": bool, "reason": str | None, "estimated": bool}}`` for every sensor
    (for /v1/info); ``estimated``: the sensor is a model (``estimate``), not a measurement.

    Each sensor is probed with its default settings; a probe that raises counts as unavailable.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in names():
        try:
            ok, reason = _SENSORS[name].available(root, None)
        except Exception as exc:  # a probe must never take /v1/info down
            ok, reason = False, f"probe failed: {type(exc).__name__}: {exc}"
        out[name] = {"available": bool(ok), "reason": None if ok else reason,
                     "estimated": bool(getattr(_SENSORS[name], "estimated", False))}
    return out
