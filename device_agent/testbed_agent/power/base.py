"""The sensor contract and the small helpers every sensor shares.

Units are in the names: ``watts``, ``energy_uj`` (microjoules), ``t_ns`` (nanoseconds). Every
file a sensor reads is resolved under a ``root`` ("/" on a board, a fixture tree in the tests),
so ``/sys/class/hwmon`` is really ``os.path.join(root, "sys/class/hwmon")``.

Sensors never make a number up: when a reading cannot be taken they raise ``SensorError`` with
a one-line reason, and the sampler records power as missing with that reason.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


class SensorError(Exception):
    """A sensor cannot be opened or read; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class Reading:
    """One reading.

    ``watts``: instantaneous (or short-interval average) power; None when the sensor has no new
    value yet (a cumulative counter's first read). ``energy_uj``: for cumulative sensors, the
    counter since the sensor was opened, already unwrapped (monotonic). ``counter_t_ns``: the
    sensor's own timestamp of that counter value when it has one (ODPM), else None.
    ``estimated``: True when the value is a model, not a measurement.
    """

    watts: float | None
    energy_uj: float | None = None
    counter_t_ns: int | None = None
    estimated: bool = False


Settings = Mapping[str, Any]


class Sensor(ABC):
    """A power sensor. Subclasses set ``name`` and register with ``registry.register``."""

    #: The registry name, the string a profile's ``power.sensor`` names.
    name: ClassVar[str]
    #: True for cumulative energy counters (RAPL, ODPM): energy comes from counter deltas.
    cumulative: ClassVar[bool] = False
    #: True when every reading is a model (``estimate``), never a measurement.
    estimated: ClassVar[bool] = False

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        self.settings: dict[str, Any] = dict(settings or {})
        self.root = root

    @classmethod
    @abstractmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        """(True, None) when this sensor can be read here; (False, reason) when not. Never raises."""

    @abstractmethod
    def read(self) -> Reading:
        """Take one reading; raise SensorError with the reason when it cannot be taken."""

    def describe(self) -> str:
        """What the number measures (which rail, which counters), for the record."""
        return self.name

    def close(self) -> None:  # noqa: B027  (an optional hook: a sensor that holds nothing keeps this no-op)
        """Release what the sensor holds (a bus, a subprocess). Safe to call twice."""


def under(root: str, path: str) -> str:
    """``path`` (absolute on a real system) resolved under ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(path: str) -> str:
    """The stripped contents of a sysfs file; SensorError with the reason when unreadable."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except FileNotFoundError:
        raise SensorError(f"{path} does not exist (the device or driver went away)") from None
    except PermissionError:
        raise SensorError(f"{path} is not readable by this user (permission denied)") from None
    except OSError as exc:  # ENODEV/EIO from a sysfs file whose device is gone
        raise SensorError(f"reading {path} failed: {exc.strerror or exc}") from None


def read_number(path: str) -> float:
    """A sysfs file holding one number (integer or decimal)."""
    text = read_text(path)
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        raise SensorError(f"{path} does not hold a number: {text[:40]!r}") from None


def find_program(name: str, root: str = "/") -> str | None:
    """``name`` on PATH (plus /usr/bin, /usr/sbin, /opt/vc/bin), resolved under ``root``."""
    dirs = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin", "/opt/vc/bin"]
    for d in dirs:
        if not d:
            continue
        candidate = under(root, os.path.join(d, name))
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def counter_delta(prev: int, now: int, modulus: int) -> int:
    """``now - prev`` for a counter that wraps to 0 after ``modulus - 1`` (one wrap at most)."""
    delta = now - prev
    return delta + modulus if delta < 0 else delta
