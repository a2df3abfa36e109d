"""Temperature, CPU frequency/governor and throttling around each run; cooldown before it.

The agent process reads these (the measuring worker is left alone): a snapshot before the run,
a light thread sampling about twice a second while the worker runs, a snapshot after. Sources,
all optional, read under a configurable ``root`` (fixture trees in the tests):

* ``/sys/class/thermal/thermal_zone*/{type,temp}``: ``temp`` in millidegrees Celsius
  (``"48312"`` = 48.312 °C). Raspberry Pi: ``cpu-thermal``; Jetson: ``CPU-therm``, ``GPU-therm``...
  (JetPack 4) or ``cpu-thermal``, ``gpu-thermal``... (JetPack 5/6); x86: ``x86_pkg_temp``.
  ``trip_point_N_{type,temp}``: at a ``passive`` trip point the kernel throttles the CPU.
* ``/sys/devices/system/cpu/cpu*/cpufreq/{scaling_cur_freq,cpuinfo_max_freq}`` in kHz and
  ``scaling_governor``.
* ``/sys/devices/system/cpu/cpu*/thermal_throttle/{core,package}_throttle_count`` (x86 counters).
* ``vcgencmd get_throttled`` (Raspberry Pi firmware), through an injectable command runner:
  ``throttled=0x50005``, bits in ``THROTTLE_BITS``.

Where a machine has none of them the record says ``not available`` and names what is missing;
no figure is ever made up. ``throttled`` is True/False only when some throttling indicator exists
(vcgencmd, throttle counters, a passive trip point), else None with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

#: ``vcgencmd get_throttled`` bits (Raspberry Pi documentation, "vcgencmd get_throttled").
THROTTLE_BITS = {
    0: "under-voltage detected",
    1: "ARM frequency capped",
    2: "currently throttled",
    3: "soft temperature limit active",
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}
NOW_MASK = 0xF
OCCURRED_MASK = 0xF0000
#: Zone types that measure the CPU (Pi cpu-thermal, Jetson CPU-therm / cpu-thermal, x86...).
CPU_ZONE = re.compile(r"cpu|x86_pkg|coretemp|k10temp|tctl|package", re.IGNORECASE)
DEFAULT_RATE_HZ = 2.0
#: ``run(argv) -> stdout`` or None when the command is missing or fails.
CommandRunner = Callable[[list[str]], "str | None"]


def run_command(argv: list[str], timeout_s: float = 2.0) -> str | None:
    """Run ``argv`` if its program exists; its stdout, or None."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def decode_throttled(value: int) -> dict[str, Any]:
    """``vcgencmd get_throttled`` value -> raw hex, the conditions now, those since boot."""
    return {"raw": hex(value),
            "now": [THROTTLE_BITS[b] for b in range(4) if value >> b & 1],
            "since_boot": [THROTTLE_BITS[b] for b in range(16, 20) if value >> b & 1]}


def parse_throttled(text: str | None) -> int | None:
    """``throttled=0x50005`` -> 0x50005; None for anything else."""
    found = re.search(r"throttled=(0x[0-9a-fA-F]+)", text or "")
    return int(found.group(1), 16) if found else None


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


def cooldown(reader: ThermalReader, below_c: float, timeout_s: float,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], Any] = time.sleep, poll_s: float = 1.0) -> dict[str, Any]:
    """Wait until the CPU is below ``below_c`` °C, at most ``timeout_s``; the cooldown record.

    ``sleep`` may return True to stop waiting (the agent is shutting down: ``Event.wait``).
    Without a temperature there is nothing to wait on: ``reached`` is None and ``skipped`` says why.
    """
    start = clock()
    temp, zone = reader.cpu_temp()
    record: dict[str, Any] = {"below_c": below_c, "timeout_s": timeout_s, "zone": zone,
                              "start_c": temp, "end_c": temp, "waited_s": 0.0, "reached": None,
                              "skipped": None}
    if temp is None:
        record["skipped"] = ("no CPU temperature to wait on: "
                             + ("; ".join(reader.missing()) or "no readable thermal zone"))
        return record
    while temp is not None and temp >= below_c:
        if clock() - start >= timeout_s:
            break
        if sleep(min(poll_s, max(0.0, timeout_s - (clock() - start)))):
            record["skipped"] = "interrupted (the agent is shutting down)"
            break
        temp, _ = reader.cpu_temp()
    record.update(end_c=temp, waited_s=round(clock() - start, 3),
                  reached=temp is not None and temp < below_c)
    return record


class ThermalWatch:
    """Before/during/after readings around one run; ``stop()`` returns the thermal record."""

    def __init__(self, reader: ThermalReader, rate_hz: float = DEFAULT_RATE_HZ,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.reader, self.rate_hz, self.clock = reader, rate_hz, clock
        self.samples: list[dict[str, Any]] = []
        self.before: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the before snapshot and start sampling (no thread when nothing is readable)."""
        if not self.reader.available:
            return
        self.before = self.reader.snapshot(self.clock)
        self._thread = threading.Thread(target=self._loop, name="thermal-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.wait(period):
            with contextlib.suppress(Exception):  # a flaky read loses one sample, not the run
                self.samples.append(self.reader.sample(self.clock))

    def stop(self, timed_window_ns: list[int] | None = None,
             cooling: dict[str, Any] | None = None) -> dict[str, Any]:
        """Stop sampling, take the after snapshot, summarize (over the timed window when given)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        reader = self.reader
        if not reader.available:
            return not_available(reader.missing(), cooling)
        after = reader.snapshot(self.clock)
        return summarize(reader, self.before or after, self.samples, after, timed_window_ns,
                         self.rate_hz, cooling)


def not_available(missing: list[str], cooling: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record of a machine without any thermal source."""
    return {"available": False, "status": "not available: " + "; ".join(missing),
            "missing": missing, "cooldown": cooling, "throttled": None,
            "throttle_reasons": [], "throttled_unknown_reason": "no thermal or throttling source",
            "governor": None, "before": None, "after": None, "during": None, "samples": []}


def _governor(governors: dict[str, str]) -> str | dict[str, str] | None:
    distinct = set(governors.values())
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else dict(governors)


def _throttle_reasons(reader: ThermalReader, before: dict[str, Any], during: list[dict[str, Any]],
                      after: dict[str, Any]) -> list[str]:
    reasons: list[str] = []
    flags = [s["throttled"] for s in during if s.get("throttled")]
    flags += [snap["throttled"]["raw"] for snap in (before, after) if snap.get("throttled")]
    now = 0
    for raw in flags:
        now |= int(raw, 16) & NOW_MASK
    reasons += [f"vcgencmd get_throttled: {THROTTLE_BITS[b]}" for b in range(4) if now >> b & 1]
    if before.get("throttled") and after.get("throttled"):
        new = (int(after["throttled"]["raw"], 16) & ~int(before["throttled"]["raw"], 16)
               & OCCURRED_MASK)
        reasons += [f"vcgencmd get_throttled: {THROTTLE_BITS[b]} (during this run)"
                    for b in range(16, 20) if new >> b & 1]
    for key, count in after.get("throttle_counts", {}).items():
        grew = count - before.get("throttle_counts", {}).get(key, count)
        if grew > 0:
            reasons.append(f"{key} throttle count +{grew} (thermal_throttle)")
    temps = [s["cpu_temp_c"] for s in during if s.get("cpu_temp_c") is not None]
    temps += [snap["cpu_temp_c"] for snap in (before, after) if snap.get("cpu_temp_c") is not None]
    trips = [(reader.zone_types[d], t) for d, t in reader.passive_trips.items()
             if t is not None and CPU_ZONE.search(reader.zone_types[d])]
    if temps and trips:
        zone, trip = min(trips, key=lambda z: z[1])
        if max(temps) >= trip:
            reasons.append(f"CPU at {max(temps):.1f} °C reached the passive trip point of {zone} "
                           f"({trip:.1f} °C): the kernel throttles there")
    return reasons


def summarize(reader: ThermalReader, before: dict[str, Any], samples: list[dict[str, Any]],
              after: dict[str, Any], timed_window_ns: list[int] | None = None,
              rate_hz: float = DEFAULT_RATE_HZ, cooling: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The thermal record of one run from its snapshots and watch samples."""
    window = "whole run"
    during = samples
    if timed_window_ns and len(timed_window_ns) == 2:
        inside = [s for s in samples if timed_window_ns[0] <= s["t_ns"] <= timed_window_ns[1]]
        if inside:
            during, window = inside, "timed runs"
    temps = [s["cpu_temp_c"] for s in during if s["cpu_temp_c"] is not None]
    lows = [s["freq_mhz_min"] for s in during if s["freq_mhz_min"] is not None]
    highs = [s["freq_mhz_max"] for s in during if s["freq_mhz_max"] is not None]
    reasons = _throttle_reasons(reader, before, during, after)
    can_tell = reader.can_tell_throttling()
    missing = reader.missing()
    t0 = before["t_ns"]
    return {
        "available": True,
        "status": "measured" + (f" (missing: {'; '.join(missing)})" if missing else ""),
        "missing": missing,
        "cooldown": cooling,
        "governor": _governor(after.get("governors") or before.get("governors") or {}),
        "cpuinfo_max_freq_mhz": reader.max_freqs() or None,
        "throttled": bool(reasons) if can_tell or reasons else None,
        "throttle_reasons": reasons,
        "throttled_unknown_reason": None if can_tell or reasons else (
            "no throttling indicator here (vcgencmd get_throttled, thermal_throttle counters, "
            "a passive trip point on a CPU zone)"),
        "before": before, "after": after,
        "during": {"window": window, "samples": len(during), "rate_hz": rate_hz,
                   "cpu_temp_c_max": max(temps) if temps else None,
                   "cpu_temp_c_min": min(temps) if temps else None,
                   "freq_mhz_min": min(lows) if lows else None,
                   "freq_mhz_max": max(highs) if highs else None},
        "samples": [{**{k: v for k, v in s.items() if k != "t_ns"},
                     "t_s": round((s["t_ns"] - t0) / 1e9, 3)} for s in samples],
    }
