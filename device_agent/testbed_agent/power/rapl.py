"""``rapl``: Intel/AMD RAPL energy counters through the powercap driver.

Files: ``/sys/class/powercap/intel-rapl:N[:M]/{name, energy_uj, max_energy_range_uj}``. ``energy_uj``
counts up in microjoules and wraps to 0 after ``max_energy_range_uj`` (the kernel's range is the
32-bit hardware counter times the energy unit; using it as the modulus is off by at most one
hardware unit, ~61 uJ). Deltas are unwrapped per read, so the sensor must be read at least once
per wrap period (minutes at 100 W), which any sampling rate does.

Zones: setting ``zones`` (names such as ``package-0``, ``dram``, ``psys``); default every top-level
``package-*`` zone (disjoint sockets). ``core``/``uncore`` are inside their package, and ``psys``
covers the whole platform, so adding them to a package would double-count.

Since Linux 5.10 (CVE-2020-8694, "PLATYPUS") ``energy_uj`` is readable by root only; ``available()``
says so instead of failing later.
"""

from __future__ import annotations

import glob
import os
import time

from .base import Reading, Sensor, SensorError, Settings, counter_delta, read_number, read_text, under
from .registry import register

ROOT_ONLY = ("energy_uj is readable only by root since Linux 5.10 (CVE-2020-8694): run the agent as "
             "root, or allow it with a udev rule / `chmod o+r .../energy_uj`")


def find_zones(root: str) -> dict[str, str]:
    """Zone name -> directory, for every ``intel-rapl:*`` zone (sub-zones named parent/child)."""
    zones: dict[str, str] = {}
    for d in sorted(glob.glob(under(root, "/sys/class/powercap/intel-rapl:*"))):
        try:
            name = read_text(os.path.join(d, "name"))
        except SensorError:
            continue
        if os.path.basename(d).count(":") > 1:  # sub-zone, e.g. intel-rapl:0:0 "core"
            parent = os.path.join(os.path.dirname(d), os.path.basename(d).rsplit(":", 1)[0])
            if os.path.isdir(parent):
                name = f"{read_text(os.path.join(parent, 'name'))}/{name}"
        zones.setdefault(name, d)
    return zones


def _chosen(zones: dict[str, str], settings: Settings | None) -> list[str]:
    wanted = list((settings or {}).get("zones") or [])
    if wanted:
        missing = [z for z in wanted if z not in zones]
        if missing:
            raise SensorError(f"no RAPL zone {missing} (zones: {', '.join(zones)})")
        return wanted
    packages = [z for z in zones if z.startswith("package-") and "/" not in z]  # top-level only
    if not packages:
        raise SensorError(f"no RAPL package zone (zones: {', '.join(zones) or 'none'}); "
                          "set settings.zones")
    return packages


def _readable(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except PermissionError:
        return False


@register
class Rapl(Sensor):
    """Sum of the chosen RAPL zones, as a cumulative energy counter."""

    name = "rapl"
    cumulative = True

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        zones = find_zones(root)
        if not zones:
            return False, ("no RAPL zones under /sys/class/powercap "
                           "(not x86, or the intel_rapl driver is not loaded)")
        try:
            chosen = _chosen(zones, settings)
            if not all(_readable(os.path.join(zones[z], "energy_uj")) for z in chosen):
                return False, ROOT_ONLY
        except (SensorError, OSError) as exc:
            return False, str(exc)
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        super().__init__(settings, root)
        zones = find_zones(root)
        self.zones = {z: zones[z] for z in _chosen(zones, self.settings)}
        self._range = {z: int(read_number(os.path.join(d, "max_energy_range_uj")))
                       for z, d in self.zones.items()}
        self._prev: dict[str, int] = {}
        self._total_uj = 0
        self._prev_t_ns: int | None = None

    def _energy(self, zone: str) -> int:
        try:
            return int(read_number(os.path.join(self.zones[zone], "energy_uj")))
        except SensorError as exc:
            if "permission denied" in str(exc):
                raise SensorError(ROOT_ONLY) from None
            raise

    def read(self) -> Reading:
        now = {z: self._energy(z) for z in self.zones}
        t_ns = time.perf_counter_ns()
        added = sum(counter_delta(self._prev[z], v, self._range[z])
                    for z, v in now.items() if z in self._prev)
        watts = None
        if self._prev_t_ns is not None and t_ns > self._prev_t_ns:
            watts = added / ((t_ns - self._prev_t_ns) / 1e9) / 1e6
        self._prev, self._prev_t_ns = now, t_ns
        self._total_uj += added
        return Reading(watts=watts, energy_uj=float(self._total_uj))

    def describe(self) -> str:
        return f"RAPL energy counters ({', '.join(self.zones)})"
