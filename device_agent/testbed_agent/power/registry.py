"""Registry of power sensors by name; each sensor module registers its class with ``@register``.

The name in a profile (``power: {sensor: ina219}``) is the registry name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .base import Sensor, SensorError

_SENSORS: dict[str, type[Sensor]] = {}

S = TypeVar("S", bound=type[Sensor])


def register(cls: S) -> S:
    """Class decorator: register ``cls`` under ``cls.name``; ValueError when the name is taken."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"sensor class {cls.__qualname__} has no name")
    if name in _SENSORS:
        other = _SENSORS[name].__qualname__
        raise ValueError(f"sensor name {name!r} is already registered by {other}")
    _SENSORS[name] = cls
    return cls


def get(name: str) -> type[Sensor]:
    """The sensor class registered as ``name``; KeyError naming the known sensors when none."""
    try:
        return _SENSORS[name]
    except KeyError:
        raise KeyError(f"unknown power sensor {name!r} (known: {', '.join(names())})") from None


def names() -> list[str]:
    """Registered sensor names, sorted."""
    return sorted(_SENSORS)


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
    """``{name: {"available": bool, "reason": str | None}}`` for every sensor (for /v1/info).

    Each sensor is probed with its default settings; a probe that raises counts as unavailable.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in names():
        try:
            ok, reason = _SENSORS[name].available(root, None)
        except Exception as exc:  # a probe must never take /v1/info down
            ok, reason = False, f"probe failed: {type(exc).__name__}: {exc}"
        out[name] = {"available": bool(ok), "reason": None if ok else reason}
    return out
