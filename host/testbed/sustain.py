"""Sustained runs (``--sustain 30m``): latency per second with temperature, frequency and throttling.

A sustained run times every variant for the whole window (``engine.request.SustainedMeasure``: the
window is both the minimum and the maximum time, no adaptive stop). Its record gets ``sustain``:

    window_s              the window asked for; covered_s: the timed loop's own span on the board
    per_second            [{t_s, n, p50_ms, mean_ms, p90_ms, temp_c, freq_mhz, throttled}], one a second
    first_p50_ms          the median of every sample in the first minute (``compare``: which span)...
    last_p50_ms           ...and in the last; slowdown_pct = last / first - 1, in %
    first_minute_p50_ms / last_minute_p50_ms   the same figures under the issue's names
    truncated             None, or why the loop ended before the window did (the agent's sample cap)
    thermal               where temperature/frequency/throttling came from, or why they are None
    method                how each figure was derived
    missing_reason        None, or why there is no curve (a board that returns no raw samples)

Every figure is derived from the stored raw samples (the agent's timed loop runs back to back: the
cumulative sum of the samples is each sample's end time from the loop's start) and from the agent's
thermal samples (~2 Hz, monotonic time; ``testbed_agent.thermal``). ``sustain_summary`` compares
the variants of one deploy: does the ranking at the start hold at the end?

    parse_window      "90s" / "2m" / "30m" / "1h" -> seconds (the CLI's, the API's and a plan's form)
    add               fill ``record["sustain"]`` (None unless the run was sustained)
    sustain_summary   the ranking in the first and the last minute across a deploy's variants
    summary_lines     that summary as short labelled lines (``testbed deploy`` prints them)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .errors import ConfigError

#: The forms ``--sustain`` accepts (the error says them).
FORMS = "a number with a unit: 90s, 2m, 30m, 1h (seconds, minutes, hours)"
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
MINUTE_S = 60.0
#: vcgencmd get_throttled bits 0-3: under-voltage, frequency capped, throttled, soft temperature limit now
_THROTTLED_NOW_MASK = 0xF


def parse_window(value: str | float | int | None, what: str = "--sustain") -> float | None:
    """``"2m"`` -> 120.0; a plain number is seconds (a plan's or the API's ``sustain_s``); None -> None.

    Raises:
        ConfigError: anything else, or a window under 10 s (one line naming the forms accepted).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what}: give a duration, {FORMS}; got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _WINDOW.match(str(value).lower())
        if not match:
            raise ConfigError(f"{what}: give a duration, {FORMS}; got {value!r:.30}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not seconds >= 10:
        raise ConfigError(f"{what}: a sustained window of at least 10 s, {FORMS}; got {value!r:.30}")
    return seconds


def add(record: dict[str, Any], result: dict[str, Any], samples_ns: list[int]) -> None:
    """``record["sustain"]`` from the raw samples and the thermal samples of a sustained run (the
    record's ``measurement.requested.sustain_s``); None for any other run."""
    requested = (record.get("measurement") or {}).get("requested") or {}
    window = requested.get("sustain_s")
    if not window:
        record["sustain"] = None
    elif not samples_ns:  # a board whose native tool prints a summary only (adb): nothing per second
        record["sustain"] = {"window_s": float(window), "n": 0, "per_second": [], "first_p50_ms": None,
                             "last_p50_ms": None, "slowdown_pct": None,
                             "missing_reason": record.get("latency_source") or "no raw latency samples"}
    else:
        record["sustain"] = curve(float(window), result, samples_ns)


def curve(window_s: float, result: dict[str, Any], samples_ns: list[int]) -> dict[str, Any]:
    """The ``sustain`` record of one sustained run (see the module docstring)."""
    agent = result.get("measurement") or {}
    samples = np.asarray(samples_ns, dtype=np.float64)
    ends = np.cumsum(samples) / 1e9  # each sample's end, in s from the timed loop's start
    span = _span_s(agent.get("timed_window_monotonic_ns"))
    scale = span / ends[-1] if span and ends[-1] > 0 else 1.0
    ends = ends * scale
    covered = float(ends[-1])
    compare_s = MINUTE_S if covered >= 0.99 * 2 * MINUTE_S else covered / 2  # (the last sample may end early)
    first = samples[ends <= compare_s]
    last = samples[ends > covered - compare_s]
    first_p50, last_p50 = _p50_ms(first), _p50_ms(last)
    slowdown = (round((last_p50 / first_p50 - 1) * 100, 2)
                if first_p50 is not None and last_p50 is not None and first_p50 > 0 else None)
    thermal, thermal_note = _thermal_points(result, agent.get("timed_window_monotonic_ns"))
    compare = ("first and last minute" if compare_s == MINUTE_S
               else f"first and last half ({compare_s:.1f} s each: {covered:.1f} s timed, under 2 min)")
    return {
        "window_s": window_s, "covered_s": round(covered, 3), "n": int(samples.size),
        "stop_reason": agent.get("stop_reason"), "truncated": _truncated(agent, window_s, covered, samples.size),
        "compare": compare, "compare_s": round(compare_s, 3),
        "first_p50_ms": first_p50, "last_p50_ms": last_p50,
        "first_minute_p50_ms": first_p50 if compare_s == MINUTE_S else None,
        "last_minute_p50_ms": last_p50 if compare_s == MINUTE_S else None,
        "slowdown_pct": slowdown,
        "per_second": _per_second(samples, ends, thermal), "missing_reason": None,
        "thermal": thermal_note,
        "method": ("per-second figures from the raw samples: the timed loop runs back to back, so the "
                   "cumulative sum of the samples is each sample's end time from the loop's start, "
                   f"scaled by {scale:.6f} to the loop's span on the board's monotonic clock (the loop's "
                   "own time between samples); a sample belongs to the second (t, t + 1] it ends in; p90 where a "
                   "second has >= 10 samples; first/last p50: the median of every sample in that span; "
                   "temperature (mean), frequency (lowest CPU's) and throttling from the agent's thermal "
                   "samples (~2 Hz) in each second"),
    }


def _span_s(window_ns: Any) -> float | None:
    if isinstance(window_ns, list | tuple) and len(window_ns) == 2 and window_ns[1] > window_ns[0]:
        return (window_ns[1] - window_ns[0]) / 1e9
    return None


def _p50_ms(values: np.ndarray) -> float | None:
    return round(float(np.median(values)) / 1e6, 4) if values.size else None


def _truncated(agent: dict[str, Any], window_s: float, covered_s: float, n: int) -> str | None:
    """Why the timed loop ended before the window did, or None."""
    if agent.get("stop_reason") == "max_samples_reached":
        return (f"the agent keeps at most {n:,} samples (testbed_agent.stopping.MAX_SAMPLES): the timed "
                f"loop ended at {covered_s:.1f} s of the {window_s:g} s window; the figures cover that much")
    if covered_s < 0.99 * window_s:
        return f"the timed loop ended at {covered_s:.1f} s of the {window_s:g} s window ({agent.get('stop_reason')})"
    return None


def _per_second(samples: np.ndarray, ends: np.ndarray, thermal: list[tuple[float, dict]]) -> list[dict]:
    seconds = np.maximum(np.ceil(ends - 1e-9).astype(np.int64) - 1, 0)  # the second (t, t + 1] it ends in
    count = int(seconds[-1]) + 1 if seconds.size else 0
    bounds = np.searchsorted(seconds, np.arange(count + 1))
    rows = []
    for t in range(count):
        part = samples[bounds[t]:bounds[t + 1]]
        at = [s for ts, s in thermal if t <= ts < t + 1]
        temps = [s["cpu_temp_c"] for s in at if s.get("cpu_temp_c") is not None]
        freqs = [s["freq_mhz_min"] for s in at if s.get("freq_mhz_min") is not None]
        flags = [int(s["throttled"], 16) for s in at if s.get("throttled")]
        rows.append({"t_s": t, "n": int(part.size), "p50_ms": _p50_ms(part),
                     "mean_ms": round(float(part.mean()) / 1e6, 4) if part.size else None,
                     "p90_ms": (round(float(np.percentile(part, 90)) / 1e6, 4) if part.size >= 10 else None),
                     "temp_c": round(sum(temps) / len(temps), 1) if temps else None,
                     "freq_mhz": min(freqs) if freqs else None,
                     "throttled": any(f & _THROTTLED_NOW_MASK for f in flags) if flags else None})
    return rows


def _thermal_points(result: dict[str, Any], window_ns: Any) -> tuple[list[tuple[float, dict]], str]:
    """The agent's thermal samples as (seconds from the timed loop's start, sample), and a note:
    where the figures come from, or why they are None."""
    thermal = result.get("thermal") or {}
    if not thermal.get("available"):
        return [], f"no temperature, frequency or throttling source: {thermal.get('status') or 'not reported'}"
    before = (thermal.get("before") or {}).get("t_ns")
    if before is None or not _span_s(window_ns):
        return [], "thermal samples without a timed window to place them in (an older agent?)"
    offset_s = (before - window_ns[0]) / 1e9
    points = [(s["t_s"] + offset_s, s) for s in thermal.get("samples") or [] if s.get("t_s") is not None]
    missing = thermal.get("missing") or []
    return points, ("agent thermal samples" + (f" (missing: {'; '.join(missing)})" if missing else "")
                    + ("" if thermal.get("throttled") is not None else
                       f"; throttled unknown: {thermal.get('throttled_unknown_reason')}"))


def _name(record: dict[str, Any]) -> str:
    threads = f" t{record['threads']}" if record.get("threads") else ""
    return f"{record.get('converter') or record.get('format')}{threads}"


def sustain_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Across the sustained variants of one deploy: the ranking (fastest first) by p50 in the first
    and in the last minute, whether it holds, the pairs that swapped, each variant's slowdown. None
    when no record has a sustained curve."""
    runs = [r for r in records if r.get("sustain") and r["sustain"].get("first_p50_ms") is not None
            and r["sustain"].get("last_p50_ms") is not None]
    if not runs:
        return None
    names = [_name(r) for r in runs]
    first = {n: r["sustain"]["first_p50_ms"] for n, r in zip(names, runs, strict=True)}
    last = {n: r["sustain"]["last_p50_ms"] for n, r in zip(names, runs, strict=True)}
    start_rank, end_rank = sorted(names, key=first.__getitem__), sorted(names, key=last.__getitem__)
    swapped = [{"faster_at_start": a, "faster_at_end": b}
               for i, a in enumerate(start_rank) for b in start_rank[i + 1:] if last[b] < last[a]]
    return {
        "window_s": max(r["sustain"]["window_s"] for r in runs),
        "compare": runs[0]["sustain"]["compare"],
        "ranking_first": start_rank, "ranking_last": end_rank, "ranking_holds": not swapped,
        "swapped": swapped,
        "variants": [{"variant": n, "first_p50_ms": first[n], "last_p50_ms": last[n],
                      "slowdown_pct": r["sustain"]["slowdown_pct"], "truncated": r["sustain"]["truncated"],
                      "covered_s": r["sustain"]["covered_s"], "window_s": r["sustain"]["window_s"],
                      "stop_reason": r["sustain"].get("stop_reason")}
                     for n, r in zip(names, runs, strict=True)],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as lines of at most ~100 characters, labelled, with units."""
    window = summary["window_s"]
    head = f"sustained {window / 60:.1f} min: "
    if summary["ranking_holds"]:
        lines = [head + "the ranking at the start holds at the end"]
    else:
        swapped = summary["swapped"]
        pairs = "; ".join(f"{p['faster_at_start']} now slower than {p['faster_at_end']}" for p in swapped[:2])
        pairs += f"; {len(swapped) - 2} more pairs swapped" if len(swapped) > 2 else ""
        lines = [head + f"the ranking changed: {pairs}"]
    first_word, last_word = (("first minute", "last minute") if "minute" in summary["compare"]
                             else ("first half", "last half"))
    for v in summary["variants"]:
        slow = "" if v["slowdown_pct"] is None else f" ({v['slowdown_pct']:+.0f} %)"
        lines.append(f"  {v['variant']}: {first_word} {v['first_p50_ms']:.3g} ms -> {last_word} "
                     f"{v['last_p50_ms']:.3g} ms{slow}")
        if v["truncated"]:
            why = ("the agent's cap of samples was reached" if v["stop_reason"] == "max_samples_reached"
                   else v["stop_reason"])
            lines.append(f"    note: only {v['covered_s']:.1f} s of the {v['window_s']:g} s window timed ({why})")
    return lines
