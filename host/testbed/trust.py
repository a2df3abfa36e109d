"""A trust verdict per result: steady, noisy, throttled or contended, with the reasons.

``add(record, result)`` (called after each measured variant) sets ``record["trust"]``::

    {"verdict": "steady" | "noisy" | "throttled" | "contended",
     "reasons": ["other processes used 133 % of a CPU on average (67 % of the 2 CPUs ...)", ...],
     "checks": {...the figures used...}, "thresholds": {...}, "unchecked": ["load: ...", ...]}

From what the run recorded, worst first (the verdict is the first that applies; ``reasons`` lists
every check that failed, in this order):

``throttled``
    the agent's thermal record flags throttling (vcgencmd, throttle counters, a passive trip point
    reached), or the fastest core's frequency fell by more than ``FREQ_DROP_PCT`` (15 %) from the
    run's start to its end, or the CPU governor changed during the run. 15 %: cpufreq steps on
    boards are 5-10 % apart, so one step of a busy core settling is not throttling; a thermal cap
    takes several steps at once.
``contended``
    other processes took CPU from the measurement (the result's ``load``, sampled by the agent from
    ``/proc``): they used at least ``OTHER_SHARE_PCT`` (25 %) of the capacity of the CPUs the
    measurement could use (the worker's affinity, else all: 50 % of one CPU on a 2-core board, a
    quarter of the one CPU a pinned run has), or the worker's own threads waited for a CPU while
    ready to run for at least ``WAIT_PCT`` (10 %) of their time (``schedstat``: direct evidence
    that something else held their CPU; on a quiet board it is below 1-2 %) while other processes
    or the hypervisor (steal) took at least ``WAIT_OTHER_MIN_PCT`` (5 %) of that capacity: with
    nothing else running, the wait is the worker's own threads queueing behind each other (a
    runtime with more threads than CPUs), recorded as ``checks.worker_wait_own_threads``. A quarter of the
    capacity: on a quiet board the rest of the system uses a few % (daemons, kernel threads); a
    single busy process on a 4-core board is 25 % and on a 2-core one 50 %, enough to share caches,
    memory bandwidth and the power budget with the measurement.
``noisy``
    the measurement drifted: the medians of ``BLOCKS`` (10) consecutive blocks of the samples vary
    by more than ``NOISY_BLOCK_CV_PCT`` (10 %, std over mean of the block medians), or the record's
    95 % interval of the median (``latency_ms.ci_pct``: where a rerun's median is expected, from the
    timed windows' medians; order statistics for a one-window record) is wider than
    ``NOISY_CI_PCT`` (± 5 %: the median is not pinned down; the presets aim at ± 2 %, so ± 5 % means
    adaptive stopping gave up at its time limit). Not the CV of the raw
    samples (``latency_ms.cv_pct``, kept in ``checks``): for a model of tens of µs a handful of
    preemption spikes put it at 300-600 % on any machine, and even the middle 80 % of the samples
    spread 10-30 % from timer and loop granularity alone; the block medians of a steady run agree
    within a few %, and drift (background load, frequency, thermals) shows as blocks that do not.
``steady``
    none of those.

A missing input (no thermal source on the board, no ``load`` from an agent older than wire schema
4, too few samples) does not make a result untrusted: the check is listed in ``unchecked`` with
why, and the verdict comes from the checks that could be made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STEADY, NOISY, THROTTLED, CONTENDED = "steady", "noisy", "throttled", "contended"
ORDER = (THROTTLED, CONTENDED, NOISY)  # precedence: the first that applies
FREQ_DROP_PCT = 15.0
OTHER_SHARE_PCT = 25.0
WAIT_PCT = 10.0
WAIT_OTHER_MIN_PCT = 5.0  # the wait counts when others (or the hypervisor's steal) took this share at least
NOISY_BLOCK_CV_PCT = 10.0
NOISY_CI_PCT = 5.0
BLOCKS = 10
MIN_BLOCK = 10  # samples per block at least
THRESHOLDS = {"freq_drop_pct": FREQ_DROP_PCT, "other_share_pct": OTHER_SHARE_PCT,
              "worker_wait_pct": WAIT_PCT, "block_cv_pct": NOISY_BLOCK_CV_PCT,
              "ci_pct": NOISY_CI_PCT}


def add(record: dict[str, Any], result: dict[str, Any]) -> None:
    """``record["trust"]`` from the record's thermal, the result's ``load`` and the samples."""
    record["trust"] = verdict(record.get("thermal"), result.get("load"),
                              record.get("latency_ms") or {}, result.get("samples_ns") or [])


def verdict(thermal: dict[str, Any] | None, load: dict[str, Any] | None,
            latency: dict[str, Any], samples_ns: list[int]) -> dict[str, Any]:
    """The trust record from the four inputs (each may be missing)."""
    checks: dict[str, Any] = {}
    unchecked: list[str] = []
    found: dict[str, list[str]] = {THROTTLED: [], CONTENDED: [], NOISY: []}
    found[THROTTLED] = _throttling(thermal, checks, unchecked)
    found[CONTENDED] = _contention(load, checks, unchecked)
    found[NOISY] = _spread(latency, samples_ns, checks, unchecked)
    worst = next((v for v in ORDER if found[v]), STEADY)
    return {"verdict": worst, "reasons": [r for v in ORDER for r in found[v]],
            "checks": checks, "thresholds": dict(THRESHOLDS), "unchecked": unchecked}


def _fastest(snapshot: dict[str, Any] | None) -> float | None:
    freqs = [float(f) for f in ((snapshot or {}).get("freq_mhz") or {}).values() if f is not None]
    return max(freqs) if freqs else None


def _throttling(thermal: dict[str, Any] | None, checks: dict[str, Any],
                unchecked: list[str]) -> list[str]:
    if not thermal or not thermal.get("available"):
        unchecked.append("throttling: " + ((thermal or {}).get("status")
                                           or "no thermal record (an older agent)"))
        return []
    reasons = []
    checks["throttled"] = thermal.get("throttled")
    if thermal.get("throttled"):
        flags = thermal.get("throttle_reasons") or ["flagged by the agent"]
        reasons.append("throttled: " + "; ".join(flags))
    elif thermal.get("throttled") is None:
        unchecked.append("throttling flags: " + (thermal.get("throttled_unknown_reason")
                                                 or "no throttling indicator"))
    before, after = thermal.get("before") or {}, thermal.get("after") or {}
    start, end = _fastest(before), _fastest(after)
    checks["freq_mhz_start"], checks["freq_mhz_end"] = start, end
    if start and end:
        drop = round(100.0 * (start - end) / start, 1)
        checks["freq_drop_pct"] = drop
        if drop > FREQ_DROP_PCT:
            reasons.append(f"the fastest core's frequency fell {drop:.0f} % during the run "
                           f"({start:.0f} -> {end:.0f} MHz)")
    else:
        unchecked.append("frequency: no cpufreq reading at the run's start and end")
    gov_start, gov_end = before.get("governors"), after.get("governors")
    checks["governor"] = thermal.get("governor")
    if gov_start and gov_end and gov_start != gov_end:
        changed = sorted({f"{gov_start.get(c)} -> {gov_end.get(c)}" for c in gov_end
                          if gov_start.get(c) != gov_end.get(c)})
        reasons.append("the CPU governor changed during the run (" + ", ".join(changed) + ")")
    return reasons


def _contention(load: dict[str, Any] | None, checks: dict[str, Any],
                unchecked: list[str]) -> list[str]:
    if not load or not load.get("available"):
        unchecked.append("other load: " + ((load or {}).get("reason")
                                           or "no load record (an agent before wire schema 4)"))
        return []
    other = float((load.get("other_cpu_pct") or {}).get("mean") or 0.0)
    cpus = len(load.get("cpus") or []) or 1
    share = round(other / cpus, 1)
    wait = load.get("worker_wait_pct")
    checks.update(other_cpu_pct_mean=other, other_cpu_pct_max=(load.get("other_cpu_pct") or {}).get("max"),
                  cpus=cpus, other_share_pct=share, worker_wait_pct=wait,
                  worker_cpu_pct=load.get("worker_cpu_pct"), load_window=load.get("window"))
    reasons = []
    if share >= OTHER_SHARE_PCT:
        busiest = ", ".join(f"{p['name']} {p['cpu_pct']:.0f} %" for p in (load.get("top_other") or [])[:2])
        reasons.append(f"other processes used {other:.0f} % of a CPU on average ({share:.0f} % of the "
                       f"{cpus} CPU{'s' if cpus > 1 else ''} the measurement could use"
                       + (f"; busiest: {busiest}" if busiest else "") + ")")
    steal = round(float(load.get("steal_cpu_pct") or 0.0) / cpus, 1)
    checks.update(steal_share_pct=steal)
    if wait is None:
        unchecked.append("run-queue wait: no schedstat for the worker's threads")
    elif wait >= WAIT_PCT and share < WAIT_OTHER_MIN_PCT and steal < WAIT_OTHER_MIN_PCT:
        # Nothing else ran: the worker's own threads (a runtime with more threads than CPUs, e.g.
        # TensorFlow's pools) queued behind each other. That is the runtime's cost, not contention.
        checks.update(worker_wait_own_threads=True)
    elif wait >= WAIT_PCT:
        reasons.append(f"the measurement's threads waited for a CPU {wait:.0f} % of their time")
    return reasons


def _block_cv(samples_ns: list[int]) -> float | None:
    """CV (%) of the medians of ``BLOCKS`` consecutive blocks, in measuring order."""
    if len(samples_ns) < BLOCKS * MIN_BLOCK:
        return None
    medians = [float(np.median(b)) for b in np.array_split(np.asarray(samples_ns, np.float64), BLOCKS)]
    mean = float(np.mean(medians))
    return round(float(np.std(medians, ddof=1)) / mean * 100.0, 2) if mean > 0 else None


def _spread(latency: dict[str, Any], samples_ns: list[int], checks: dict[str, Any],
            unchecked: list[str]) -> list[str]:
    cv, ci = latency.get("cv_pct"), latency.get("ci_pct")
    blocks = _block_cv(samples_ns)
    checks.update(cv_pct=None if cv is None else round(float(cv), 2), block_cv_pct=blocks,
                  ci_pct=None if ci is None else round(float(ci), 2), n=len(samples_ns) or latency.get("n"))
    reasons = []
    if blocks is None:
        unchecked.append(f"drift: {len(samples_ns)} raw samples ({BLOCKS * MIN_BLOCK} needed)")
    elif blocks > NOISY_BLOCK_CV_PCT:
        reasons.append(f"the latency drifted: the medians of {BLOCKS} consecutive blocks vary "
                       f"{blocks:.0f} % (CV)")
    if ci is None:
        unchecked.append("interval: too few samples or windows for a 95 % interval of the median")
    elif ci > NOISY_CI_PCT:
        reasons.append(f"the median is not pinned down: its 95 % interval is ± {ci:.1f} %")
    return reasons


def label(record: dict[str, Any]) -> str:
    """A table cell: the verdict, or ``–`` where none was made (a failed run, an older record)."""
    trust = record.get("trust") or {}
    return str(trust.get("verdict") or "–")


def reason(record: dict[str, Any]) -> str | None:
    """The first reason, short (None for a steady result or none)."""
    reasons = (record.get("trust") or {}).get("reasons") or []
    return str(reasons[0]) if reasons else None
