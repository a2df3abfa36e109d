"""Reads temperature, CPU frequency/governor and throttling indicators: ``ThermalReader``.

Sources, all optional, read under a configurable ``root`` (fixture trees in the tests):

* ``/sys/class/thermal/thermal_zone*/{type,temp}``: ``temp`` in millidegrees Celsius
  (``"48312"`` = 48.312 °C). Raspberry Pi: ``cpu-thermal``; Jetson: ``CPU-therm``, ``GPU-therm``...
  (JetPack 4) or ``cpu-thermal``, ``gpu-thermal``... (JetPack 5/6); x86: ``x86_pkg_temp``.
  ``trip_point_N_{type,temp}``: at a ``passive`` trip point the kernel throttles the CPU.
* ``/sys/devices/system/cpu/cpu*/cpufreq/{scaling_cur_freq,cpuinfo_max_freq}`` in kHz and
  ``scaling_governor``.
* ``/sys/devices/system/cpu/cpu*/thermal_throttle/{core,package}_throttle_count`` (x86 counters).
* ``vcgencmd get_throttled`` (Raspberry Pi firmware), through an injectable command runner:
  ``throttled=0x50005``, bits in ``THROTTLE_BITS`` (both read in ``vcgencmd``).

``missing()`` names what a machine lacks; ``can_tell_throttling()`` says whether some throttling
indicator exists (vcgencmd, throttle counters, a passive trip point on a CPU zone).
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from .vcgencmd import CommandRunner, decode_throttled, parse_throttled, run_command

#: Zone types that measure the CPU (Pi cpu-thermal, Jetson CPU-therm / cpu-thermal, x86...).
CPU_ZONE = re.compile(r"cpu|x86_pkg|coretemp|k10temp|tctl|package", re.IGNORECASE)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _millideg(value: int | None) -> float | None:
    """m°C -> °C; None for a missing or implausible reading (disabled zones report junk)."""
    if value is None or not -50_000 <= value <= 200_000:
        return None
    return value / 1000.0


def _cpu_key(path: str) -> int:
    found = re.search(r"cpu(\d+)", path)
    return int(found.group(1)) if found else -1


class ThermalReader:
    """Reads the sources under ``root``; ``run`` runs ``vcgencmd`` (None: the real one at /)."""

    def __init__(self, root: str = "/", run: CommandRunner | None = None) -> None:
        self.root = root
        self.run = run if run is not None else (run_command if root == "/" else (lambda argv: None))
        sysfs = os.path.join(root, "sys")
        self.zone_dirs = sorted(glob.glob(os.path.join(sysfs, "class/thermal/thermal_zone*")),
                                key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0))
        cpus = os.path.join(sysfs, "devices/system/cpu")
        self.freq_dirs = sorted(glob.glob(os.path.join(cpus, "cpu[0-9]*/cpufreq")), key=_cpu_key)
        self.throttle_files = sorted(glob.glob(os.path.join(cpus, "cpu[0-9]*/thermal_throttle/"
                                                                  "*_throttle_count")))
        self.zone_types = {d: _read(os.path.join(d, "type")) or os.path.basename(d)
                           for d in self.zone_dirs}
        self.passive_trips = {d: self._passive_trip(d) for d in self.zone_dirs}
        self.vcgencmd = parse_throttled(self.run(["vcgencmd", "get_throttled"])) is not None

    @staticmethod
    def _passive_trip(zone: str) -> float | None:
        temps = []
        for type_file in glob.glob(os.path.join(zone, "trip_point_*_type")):
            if _read(type_file) == "passive":
                temp = _millideg(_read_int(type_file[:-len("type")] + "temp"))
                if temp is not None and temp > 0:
                    temps.append(temp)
        return min(temps) if temps else None

    def missing(self) -> list[str]:
        """What this machine does not have, in words (empty: everything)."""
        gone = []
        if not self.zone_dirs:
            gone.append("no /sys/class/thermal/thermal_zone* (temperature)")
        if not self.freq_dirs:
            gone.append("no /sys/devices/system/cpu/cpu*/cpufreq (frequency, governor)")
        if not self.vcgencmd:
            gone.append("no vcgencmd get_throttled (Raspberry Pi throttling flags)")
        if not self.throttle_files:
            gone.append("no /sys/devices/system/cpu/cpu*/thermal_throttle counters")
        return gone

    @property
    def available(self) -> bool:
        return bool(self.zone_dirs or self.freq_dirs or self.vcgencmd or self.throttle_files)

    def can_tell_throttling(self) -> bool:
        """Whether any throttling indicator exists here (else ``throttled`` is None)."""
        cpu_trips = [d for d in self.zone_dirs
                     if self.passive_trips[d] is not None and CPU_ZONE.search(self.zone_types[d])]
        return bool(self.vcgencmd or self.throttle_files or cpu_trips)

    def zones(self) -> list[dict[str, Any]]:
        return [{"zone": os.path.basename(d), "type": self.zone_types[d],
                 "temp_c": _millideg(_read_int(os.path.join(d, "temp")))} for d in self.zone_dirs]

    @staticmethod
    def cpu_temp_of(zones: Iterable[dict[str, Any]]) -> tuple[float | None, str | None]:
        """The CPU temperature (hottest CPU zone; else the hottest zone, said so) and its source."""
        zones = [z for z in zones if z["temp_c"] is not None]
        cpu = [z for z in zones if CPU_ZONE.search(z["type"])]
        if cpu:
            hot = max(cpu, key=lambda z: z["temp_c"])
            return hot["temp_c"], hot["type"]
        if zones:
            hot = max(zones, key=lambda z: z["temp_c"])
            return hot["temp_c"], f"{hot['type']} (hottest zone; none is named like a CPU)"
        return None, None

    def cpu_temp(self) -> tuple[float | None, str | None]:
        return self.cpu_temp_of(self.zones())

    def freqs(self) -> tuple[dict[str, float], dict[str, str]]:
        """Current frequency (MHz) and governor of every CPU that has cpufreq."""
        mhz, governors = {}, {}
        for d in self.freq_dirs:
            cpu = f"cpu{_cpu_key(d)}"
            khz = _read_int(os.path.join(d, "scaling_cur_freq"))
            if khz is not None:
                mhz[cpu] = khz / 1000.0
            gov = _read(os.path.join(d, "scaling_governor"))
            if gov:
                governors[cpu] = gov
        return mhz, governors

    def max_freqs(self) -> dict[str, float]:
        found = {}
        for d in self.freq_dirs:
            khz = _read_int(os.path.join(d, "cpuinfo_max_freq"))
            if khz is not None:
                found[f"cpu{_cpu_key(d)}"] = khz / 1000.0
        return found

    def throttle_counts(self) -> dict[str, int]:
        counts = {}
        for path in self.throttle_files:
            value = _read_int(path)
            if value is not None:
                kind = os.path.basename(path).replace("_throttle_count", "")
                counts[f"cpu{_cpu_key(path)}.{kind}"] = value
        return counts

    def throttled_flags(self) -> int | None:
        return parse_throttled(self.run(["vcgencmd", "get_throttled"])) if self.vcgencmd else None

    def snapshot(self, clock: Callable[[], int] = time.monotonic_ns) -> dict[str, Any]:
        """Everything readable now."""
        zones = self.zones()
        temp, zone = self.cpu_temp_of(zones)
        mhz, governors = self.freqs()
        flags = self.throttled_flags()
        return {"t_ns": clock(), "zones": zones, "cpu_temp_c": temp, "cpu_zone": zone,
                "freq_mhz": mhz, "governors": governors, "throttle_counts": self.throttle_counts(),
                "throttled": None if flags is None else decode_throttled(flags)}

    def sample(self, clock: Callable[[], int] = time.monotonic_ns) -> dict[str, Any]:
        """The light reading the watch thread takes: CPU temperature, frequency range, flags."""
        temp, _ = self.cpu_temp()
        mhz, _ = self.freqs()
        flags = self.throttled_flags()
        return {"t_ns": clock(), "cpu_temp_c": temp,
                "freq_mhz_min": min(mhz.values()) if mhz else None,
                "freq_mhz_max": max(mhz.values()) if mhz else None,
                "throttled": None if flags is None else hex(flags)}
