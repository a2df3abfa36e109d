"""Temperature, CPU frequency/governor and throttling around each run; cooldown before it.

The agent process reads these (the measuring worker is left alone): a snapshot before the run,
a light thread sampling about twice a second while the worker runs, a snapshot after.

Where a machine has none of the sources (``thermal_reader``) the record says ``not available``
and names what is missing; no figure is ever made up. ``throttled`` is True/False only when some
throttling indicator exists (vcgencmd, throttle counters, a passive trip point), else None with
the reason.

What lives where: the cooldown, the watch and the thermal record here; the sources (sysfs
thermal zones, cpufreq, throttle counters) and what each machine has in ``thermal_reader``
(``ThermalReader``, also importable from here); ``vcgencmd get_throttled`` and its bits in
``vcgencmd``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from .thermal_reader import CPU_ZONE, ThermalReader
from .vcgencmd import NOW_MASK, OCCURRED_MASK, THROTTLE_BITS

# ThermalReader lives in .thermal_reader; the agent (manager) and the fixtures README import it from here
__all__ = ["ThermalReader", "ThermalWatch", "cooldown", "not_available", "summarize"]

DEFAULT_RATE_HZ = 2.0


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
