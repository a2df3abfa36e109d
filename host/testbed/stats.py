"""Statistics derived from raw latency samples (the samples are what is stored; these are recomputed).

The reported interval is the agent's own function (``testbed_agent.stopping.interval``): the agent
uses it to decide when to stop, the host to report; one implementation for both. From the raw samples
and the window boundaries the agent reports (``measurement.windows``), it is the prediction interval
of a rerun's median from the window medians (``testbed_agent.rerun_interval``); a result without
windows (an old agent, the native runner, a run cut to one window) gets the order-statistics CI of
the median of its samples, and ``ci_method`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from testbed_agent.rerun_interval import METHOD_WORKERS, from_medians
from testbed_agent.stopping import DEFAULT_CONFIDENCE, interval
from testbed_agent.stopping import median_ci as median_ci  # one implementation: the agent's

#: Share of samples dropped at each end for the trimmed mean (middle 80 %, like ExecuTorch's
#: benchmark "trimmean").
TRIM_EACH_SIDE = 0.10
#: MLPerf Inference SingleStream minimums (loadgen's defaults for the scenario).
MLPERF_MIN_QUERIES = 1024
MLPERF_MIN_DURATION_S = 60.0

SUMMARY_KEYS = ("p50", "p90", "p99", "mean", "trimmed_mean", "std", "cv_pct", "min", "max",
                "ci_low", "ci_high", "ci_pct", "ci_method", "ci_windows")
#: The tail percentiles of the summary, withheld (None) below ``percentile_min_n`` samples.
TAIL_PERCENTILES = {"p90": 0.90, "p99": 0.99}
#: p-values below this print as "< 1e-6": the U test's normal approximation is not accurate far
#: out in the tail (it even underflows to 0 on large samples), so smaller digits would be invented.
P_VALUE_FLOOR_TEXT = "1e-6"
P_VALUE_FLOOR = float(P_VALUE_FLOOR_TEXT)


def percentile_min_n(q: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Fewest samples for which the ``q`` quantile has a distribution-free ``confidence`` interval.

    The widest interval the samples offer, [min, max], misses the q quantile when all n samples
    fall below it (probability q^n) or all above it ((1-q)^n). Like the median's interval
    (``median_ci_ranks``: each tail <= (1 - confidence) / 2), both must be that small, so
    n >= log((1 - confidence) / 2) / log(max(q, 1 - q)): at 95 %, 6 for the median (the median CI's
    own limit), 36 for p90, 368 for p99. With fewer samples a p99 is just the largest value seen.
    """
    tail = (1.0 - confidence) / 2.0
    return math.ceil(math.log(tail) / math.log(max(q, 1.0 - q)) - 1e-9)


def fmt_p_value(p: float | None) -> str:
    """A p-value for people: two significant digits, ``< 1e-6`` below ``P_VALUE_FLOOR``; – when None."""
    if p is None:
        return "–"
    return f"< {P_VALUE_FLOOR_TEXT}" if p < P_VALUE_FLOOR else f"{p:.2g}"


def trimmed_mean(values: np.ndarray, trim: float = TRIM_EACH_SIDE) -> float:
    """Mean of the sorted values without ``floor(trim * n)`` at each end."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(math.floor(trim * ordered.size))
    kept = ordered[cut:ordered.size - cut] if ordered.size - 2 * cut > 0 else ordered
    return float(kept.mean())


def latency_summary(samples_ns: list[int], confidence: float = DEFAULT_CONFIDENCE,
                    windows: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Summary in milliseconds from raw per-inference samples in ns (``windows``: the timed
    windows' ``(start_index, n)``, as the agent reports them).

    p50/p90/p99: linear interpolation between order statistics (numpy's default); p90 and p99 are
    None below ``percentile_min_n`` samples (36 and 368 at 95 %, given in ``percentile_min_n``):
    with fewer, not even [min, max] is a confidence interval for them; std: sample
    standard deviation (ddof=1); cv_pct: std / mean in %; trimmed_mean: the middle 80 %;
    ci_low/ci_high: the reported ``confidence`` interval - with 2 windows or more, where a rerun's
    median is expected to fall (Student t on the window medians, ``testbed_agent.rerun_interval``),
    else the distribution-free interval of the median (order statistics, binomial ranks; None below
    6 samples at 95 %); ci_method says which, ci_windows how many windows (None: one, or unknown);
    ci_pct: the larger distance from p50 to a bound in % of p50 (the "±" figure).
    """
    min_n = {name: percentile_min_n(q, confidence) for name, q in TAIL_PERCENTILES.items()}
    if not samples_ns:
        return {k: None for k in SUMMARY_KEYS} | {"n": 0, "ci_level": confidence, "percentile_min_n": min_n}
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    ci = interval(ms, windows or [], confidence)
    low, high = (ci.low, ci.high) if ci else (None, None)
    return {
        "p50": p50, "p90": p90 if ms.size >= min_n["p90"] else None,
        "p99": p99 if ms.size >= min_n["p99"] else None,
        "mean": mean, "trimmed_mean": trimmed_mean(ms), "std": std,
        "cv_pct": std / mean * 100.0 if mean > 0 else None,
        "min": float(ms.min()), "max": float(ms.max()), "n": int(ms.size),
        "ci_low": low, "ci_high": high,
        "ci_pct": _half_width_pct(p50, low, high), "ci_level": confidence,
        "ci_method": ci.method if ci else None,
        "ci_windows": getattr(ci, "windows", None) if ci else None,
        "percentile_min_n": min_n,
    }


def _half_width_pct(p50: float, low: float | None, high: float | None) -> float | None:
    if low is None or high is None:
        return None
    if p50 == 0:
        return math.inf if high > low else 0.0
    return max(p50 - low, high - p50) / abs(p50) * 100.0


def window_bounds(result: dict) -> list[tuple[int, int]]:
    """The timed windows ``(start_index, n)`` an agent's result reports (``measurement.windows``);
    [] for a result without them (an old agent, the native runner)."""
    windows = (result.get("measurement") or {}).get("windows") or []
    return [(int(w["start_index"]), int(w["n"])) for w in windows]


def result_latency(result: dict, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """The latency summary of an agent's result, recomputed from its raw samples and windows."""
    samples = [int(s) for s in result.get("samples_ns") or []]
    return latency_summary(samples, confidence, window_bounds(result) if samples else None)


def repeats_latency(runs: Sequence[Sequence[int]], confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """The latency summary of one variant measured in several **fresh workers** (the ``repeats`` of a
    deploy or a plan; ``runs``: each one's raw samples in ns): percentiles of all samples pooled, and
    the interval where a rerun's median - the same number of fresh workers again - is expected to fall,
    Student t on the workers' medians (``rerun_interval.METHOD_WORKERS``, ``ci_runs`` of them). One
    worker's windows cannot see what this sees: each fresh process keeps its own speed (memory layout,
    which cores, what the runtime's threads landed on; bench/README.md, "Fresh workers"). Fewer than
    two measured runs: that run's summary without its windows (the caller has the windows)."""
    measured = [list(r) for r in runs if len(r)]
    pooled = [int(s) for r in measured for s in r]
    summary = latency_summary(pooled, confidence)
    if len(measured) < 2:
        return summary
    medians = [float(np.median(np.asarray(r, dtype=np.float64))) / 1e6 for r in measured]
    ci = from_medians(medians, np.asarray(pooled, dtype=np.float64) / 1e6, confidence, method=METHOD_WORKERS)
    assert ci is not None  # two runs or more
    return summary | {"ci_low": ci.low, "ci_high": ci.high, "ci_pct": _half_width_pct(summary["p50"], ci.low, ci.high),
                      "ci_method": ci.method, "ci_windows": None, "ci_runs": len(measured),
                      "run_p50s": medians}


def target_met(summary: dict, target_pct: float | None) -> bool | None:
    """Whether the CI of the median is within ±``target_pct`` % (None when there is no target;
    False when there are too few samples for a CI: never assumed)."""
    if target_pct is None:
        return None
    pct = summary.get("ci_pct")
    return pct is not None and pct <= target_pct


def mlperf_singlestream(samples_ns: list[int], duration_s: float | None,
                        stop_reason: str | None = None) -> dict:
    """MLPerf SingleStream verdict: VALID only when >= 1024 queries *and* >= 60 s were timed;
    the 90th percentile as loadgen reports it (the nearest-rank order statistic, no interpolation).
    Loadgen's early-stopping estimate is not computed."""
    n = len(samples_ns)
    reasons = []
    if stop_reason == "max_samples_reached":
        reasons.append(f"the agent's cap of {n} raw samples came first (a model this fast cannot "
                       "fill 60 s within it)")
    elif stop_reason == "max_s_reached":
        reasons.append("the run reached max_s first")
    if n < MLPERF_MIN_QUERIES:
        reasons.append(f"{n} queries < the minimum {MLPERF_MIN_QUERIES}")
    if duration_s is None or duration_s < MLPERF_MIN_DURATION_S:
        shown = "unknown" if duration_s is None else f"{duration_s:.1f} s"
        reasons.append(f"duration {shown} < the minimum {MLPERF_MIN_DURATION_S:g} s")
    p90 = None
    if n:
        ordered = np.sort(np.asarray(samples_ns, dtype=np.int64))
        p90 = float(ordered[max(0, math.ceil(0.9 * n) - 1)]) / 1e6
    return {"scenario": "SingleStream", "result": "INVALID" if reasons else "VALID",
            "queries": n, "min_query_count": MLPERF_MIN_QUERIES, "duration_s": duration_s,
            "min_duration_s": MLPERF_MIN_DURATION_S, "p90_ms": p90, "reasons": reasons,
            "note": "minimum query count and duration only; loadgen's early-stopping estimate "
                    "is not computed"}


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far an artifact's outputs are from its source framework's on the same inputs."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(reference), -1)
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    return {
        "max_abs_err": float(np.max(np.abs(out - ref))),
        "top1_agreement": float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1))),
        "n": int(len(ref)),
    }


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of logits/probabilities against integer labels."""
    out = np.asarray(outputs).reshape(len(labels), -1)
    return float(np.mean(out.argmax(axis=1) == np.asarray(labels)))

