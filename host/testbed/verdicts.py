"""Regression verdicts: is a cell slower, bigger, hungrier, hotter or less accurate than its baseline,
and is the change real or noise?

Latency (the median of the raw per-inference samples, every repeat pooled):

* ``change`` = median(current) / median(baseline) - 1.
* Its confidence interval (default 95 %) by a two-stage bootstrap: resample the repeats (runs) with
  replacement, then the samples inside each chosen run, and take the pooled median; so the interval
  holds both the within-run and the run-to-run noise (with one repeat only the within-run noise: plans
  should use ``repeats: 3`` or more). Each run is first thinned to at most ``max_samples`` samples
  (seeded), which only widens the interval.
* A Mann-Whitney U test (two-sided, scipy) on the raw samples says whether the two distributions differ.
* The rule, with ``t`` the threshold (default 5 %) and ``[lo, hi]`` the interval:

  ========================================  ===========
  significant (p < alpha) and lo > +t       regressed
  significant and hi < -t                   improved
  -t <= lo and hi <= +t                     unchanged (any real change is smaller than the threshold)
  anything else                             noisy: the interval straddles the threshold, or the test
                                            and the interval disagree; it is never called a regression
  ========================================  ===========

Size (bytes of the artifact) is exact: a change beyond ``size_threshold_pct`` is a regression or an
improvement. Memory (the model's own memory, record v3 ``model_memory_mb``, which leaves out the sample
buffer; else the worker's peak RSS) and energy per inference have one value per repeat: regressed only
when the median moved beyond the threshold AND every current value lies beyond every baseline value (the
ranges do not overlap); within the threshold (or, for memory, within 1 MB): unchanged; else noisy. An
*estimated* energy (a CPU utilisation model, not a sensor) is reported but never decides a verdict.
Accuracy is deterministic (the same inputs): a drop of more than ``accuracy_drop_pp`` percentage points
is a regression.

A cell's verdict is the worst of its metrics: regressed > improved > noisy > unchanged. A cell that
measured in the baseline and fails now is ``broken`` (counted with the regressions); one that failed
in both is ``failed``; one with no baseline is ``new``.

Like pyperf, two runs measured in different environments are not judged against each other
silently: when the runtime or its runner, a tool (converter/framework) version, the threads, the CPU
governor, the CPU affinity or the memory limit differ between the baseline and the current records
(``environment``; a fact one side does not record is not compared), the cell's verdict is
``incomparable`` and its reason names what differs (``runtime_version 1.17.0 -> 1.18.0``); the
metrics are still computed and shown, and such a cell never counts as a regression.

A latency change measured on a board that was not quiet is not blamed on the model: when either
side's trust verdict (``testbed.trust``: the least trustworthy of its repeats) is ``throttled`` or
``contended`` - the board, not the model, may explain the change - a latency ``regressed`` or
``improved`` becomes ``noisy`` (``would_be`` keeps what it would have been, ``untrusted`` the
side(s)) and the reason says why: ``slower by +12.0 % (...) - but this result is contended (other
processes used 85 % of a CPU ...): rerun on a quiet board before blaming the model``. A side that is
only ``noisy`` (its own samples drifted between windows) keeps the verdict - the change's interval
is already computed from those samples - and the reason adds the caveat (``untrusted`` names the
side). Every judged cell's JSON carries ``trust``: both sides' verdict and first reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import fmt_p_value

REGRESSED, IMPROVED, UNCHANGED, NOISY = "regressed", "improved", "unchanged", "noisy"
NEW, BROKEN, FAILED, MISSING = "new", "broken", "failed", "missing"
INCOMPARABLE = "incomparable"
ORDER = {REGRESSED: 3, IMPROVED: 2, NOISY: 1, UNCHANGED: 0}
COUNTS_AS_REGRESSION = (REGRESSED, BROKEN)
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Thresholds:
    latency_pct: float = 5.0
    confidence: float = 0.95
    alpha: float = 0.05
    size_pct: float = 1.0
    memory_pct: float = 10.0
    memory_floor_mb: float = 1.0  # smaller memory changes are unchanged whatever their percentage
    energy_pct: float = 10.0
    accuracy_pp: float = 1.0
    bootstrap: int = 1000
    max_samples: int = 2000  # per run, for the bootstrap (the point estimate and the test use all)
    seed: int = 0

    @classmethod
    def from_plan(cls, spec: Any) -> Thresholds:
        """From a plan's ``verdict:`` section (nightly.plan.VerdictSpec)."""
        return cls(latency_pct=spec.threshold_pct, confidence=spec.confidence, alpha=spec.alpha,
                   size_pct=spec.size_threshold_pct, memory_pct=spec.memory_threshold_pct,
                   energy_pct=spec.energy_threshold_pct, accuracy_pp=spec.accuracy_drop_pp)


DEFAULT_THRESHOLDS = Thresholds()  # frozen, so one shared default argument is safe


@dataclass
class CellData:
    """What a verdict needs of one cell: raw samples per repeat and the per-repeat figures."""

    samples_ns: list[np.ndarray] = field(default_factory=list)  # one array per ok repeat
    size_bytes: int | None = None
    peak_rss_mb: list[float] = field(default_factory=list)
    model_memory_mb: list[float] = field(default_factory=list)  # record v3: the model's own share
    energy_mj: list[float] = field(default_factory=list)
    energy_estimated: bool = False
    accuracy: float | None = None
    ok: bool = True  # every repeat measured
    error: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # what must match to compare (``environment``)
    trust: list[dict[str, Any]] = field(default_factory=list)  # testbed.trust of each ok repeat

    @classmethod
    def from_results(cls, results: Iterable[Any]) -> CellData:
        """From stored Result rows (``.status``, ``.samples_ns``, ``.record``)."""
        data = cls()
        for res in results:
            rec = res.record or {}
            if data.size_bytes is None:
                data.size_bytes = rec.get("size_bytes")
            if res.status != "ok":
                data.ok, data.error = False, rec.get("error") or res.error
                continue
            if res.samples_ns:  # a native tool's summary has none: latency is then not judged
                data.samples_ns.append(np.asarray(res.samples_ns, dtype=np.float64))
            if rec.get("peak_rss_mb") is not None:
                data.peak_rss_mb.append(float(rec["peak_rss_mb"]))
            if rec.get("model_memory_mb") is not None:
                data.model_memory_mb.append(float(rec["model_memory_mb"]))
            power = rec.get("power") or {}
            if power.get("energy_mj_per_inference") is not None:
                data.energy_mj.append(float(power["energy_mj_per_inference"]))
                data.energy_estimated = data.energy_estimated or bool(power.get("estimated"))
            if data.accuracy is None and rec.get("accuracy") is not None:
                data.accuracy = float(rec["accuracy"])
            for key, value in environment(rec).items():
                data.environment.setdefault(key, value)
            if (rec.get("trust") or {}).get("verdict"):
                data.trust.append(rec["trust"])
        return data


#: testbed.trust's verdicts, least trustworthy first, and what to do about each.
TRUST_ORDER = ("throttled", "contended", "noisy")
RERUN = {"throttled": "rerun on a cool board (profile thermal.cooldown_below_c)",
         "contended": "rerun on a quiet board", "noisy": "rerun it (more repeats)"}


def cell_trust(data: CellData) -> dict[str, Any] | None:
    """The least trustworthy of a cell's repeats: ``{"verdict", "reason"}``; None when none says."""
    if not data.trust:
        return None
    rank = {name: i for i, name in enumerate(TRUST_ORDER)}
    worst = min(data.trust, key=lambda t: rank.get(t["verdict"], len(rank)))
    return {"verdict": worst["verdict"], "reason": next(iter(worst.get("reasons") or []), None)}


def untrusted(latency: dict[str, Any], trust: dict[str, Any]) -> dict[str, Any]:
    """A latency regression/improvement where a side was not steady: noisy, saying why."""
    if latency.get("verdict") not in (REGRESSED, IMPROVED):
        return latency
    sides = [(side, t) for side, t in (("current", trust.get("current")), ("baseline", trust.get("baseline")))
             if t and t["verdict"] != "steady"]
    if not sides:
        return latency
    sides.sort(key=lambda st: TRUST_ORDER.index(st[1]["verdict"]) if st[1]["verdict"] in TRUST_ORDER else 99)
    words = [f"{'this result is' if side == 'current' else 'the baseline was'} {t['verdict']}"
             + (f" ({t['reason']})" if t.get("reason") else "") for side, t in sides]
    blame_board = any(t["verdict"] in ("throttled", "contended") for _, t in sides)
    return latency | {
        "verdict": NOISY if blame_board else latency["verdict"],
        **({"would_be": latency["verdict"]} if blame_board else {}), "untrusted": [side for side, _ in sides],
        "reason": (f"{latency['reason']} - but {' and '.join(words)}: {RERUN[sides[0][1]['verdict']]} "
                   "before blaming the model")}


def environment(rec: dict[str, Any]) -> dict[str, Any]:
    """The facts of a record that two runs must share to be judged against each other: the runtime
    (version, runner), tool versions, threads and the CPU settings (governor, affinity, memory
    limit). Only the facts the record holds (None: not recorded, not compared)."""
    settings = rec.get("settings") or {}
    facts: dict[str, Any] = {
        "runtime_version": rec.get("runtime_version"), "runner": rec.get("runner"),
        "threads": rec.get("threads"),
        "governor": (rec.get("thermal") or {}).get("governor"),
        "cpu_affinity": settings.get("cpu_affinity"),
        "memory_limit_mb": settings.get("memory_limit_mb"),
    }
    for tool, version in sorted((rec.get("tool_versions") or {}).items()):
        facts[f"tool_versions.{tool}"] = version
    return {k: v for k, v in facts.items() if v is not None}


def environment_differences(base: dict[str, Any], cur: dict[str, Any]) -> list[str]:
    """``["runtime_version 1.17.0 -> 1.18.0", ...]``: the facts both record with different values."""
    return [f"{key} {base[key]} -> {cur[key]}" for key in base
            if key in cur and base[key] != cur[key]]


def _pct(x: float) -> float:
    return round(100.0 * x, 3)


def _thin(run: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return run if run.size <= cap else rng.choice(run, size=cap, replace=False)


def bootstrap_median_ratio(base: list[np.ndarray], cur: list[np.ndarray], *, n_boot: int = 1000,
                           confidence: float = 0.95, max_samples: int = 2000,
                           seed: int = 0) -> tuple[float, float]:
    """Two-stage bootstrap interval of median(cur)/median(base) - 1 (runs, then samples in runs)."""
    rng = np.random.default_rng(seed)
    base = [_thin(r, max_samples, rng) for r in base if r.size]
    cur = [_thin(r, max_samples, rng) for r in cur if r.size]

    def replicates(runs: list[np.ndarray]) -> np.ndarray:
        out = np.empty(n_boot)
        k = len(runs)
        for b in range(n_boot):
            chosen = rng.integers(0, k, size=k) if k > 1 else [0]
            pooled = np.concatenate([runs[j][rng.integers(0, runs[j].size, size=runs[j].size)] for j in chosen])
            out[b] = np.median(pooled)
        return out

    ratio = replicates(cur) / replicates(base) - 1.0
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ratio, [tail, 1.0 - tail])
    return float(lo), float(hi)


def latency_verdict(base: list[np.ndarray], cur: list[np.ndarray], th: Thresholds = DEFAULT_THRESHOLDS) -> dict:
    """The latency metric: medians in ms, change and interval in %, the U test's p, and the verdict."""
    from scipy.stats import mannwhitneyu

    b_all = np.concatenate(base) if base else np.empty(0)
    c_all = np.concatenate(cur) if cur else np.empty(0)
    out: dict[str, Any] = {"metric": "latency", "unit": "ms (median)", "n": [int(b_all.size), int(c_all.size)],
                           "repeats": [len(base), len(cur)], "threshold_pct": th.latency_pct}
    if b_all.size < MIN_SAMPLES or c_all.size < MIN_SAMPLES:
        return out | {"verdict": NOISY, "reason": f"too few samples to judge (< {MIN_SAMPLES})"}
    med_b, med_c = float(np.median(b_all)), float(np.median(c_all))
    change = med_c / med_b - 1.0
    lo, hi = bootstrap_median_ratio(base, cur, n_boot=th.bootstrap, confidence=th.confidence,
                                    max_samples=th.max_samples, seed=th.seed)
    p = float(mannwhitneyu(c_all, b_all, alternative="two-sided").pvalue)
    t = th.latency_pct / 100.0
    significant = p < th.alpha
    interval = f"CI {_pct(lo):+.1f}..{_pct(hi):+.1f} %, {_p_clause(p)}"
    if significant and lo > t:
        verdict, why = REGRESSED, f"slower by {_pct(change):+.1f} % ({interval})"
    elif significant and hi < -t:
        verdict, why = IMPROVED, f"faster by {_pct(-change):.1f} % ({interval})"
    elif -t <= lo and hi <= t:
        verdict, why = UNCHANGED, f"{_pct(change):+.1f} %, CI within ±{th.latency_pct:g} %"
    else:
        verdict = NOISY
        why = (f"{_pct(change):+.1f} % but the {th.confidence:.0%} CI {_pct(lo):+.1f}..{_pct(hi):+.1f} % "
               f"straddles ±{th.latency_pct:g} % ({_p_clause(p)}): cannot tell")
    return out | {"verdict": verdict, "reason": why, "baseline": med_b / 1e6, "current": med_c / 1e6,
                  "change_pct": _pct(change), "ci_pct": [_pct(lo), _pct(hi)], "p_value": p,
                  "significant": significant}


def _p_clause(p: float) -> str:
    """``p=0.012`` or ``p < 1e-6`` (smaller p-values are not known that precisely)."""
    text = fmt_p_value(p)
    return f"p {text}" if text.startswith("<") else f"p={text}"


def spread_verdict(metric: str, unit: str, base: list[float], cur: list[float], threshold_pct: float,
                   floor: float = 0.0) -> dict:
    """Memory / energy: one value per repeat; regressed only beyond the threshold with disjoint ranges.
    A change of at most ``floor`` (in the unit) is unchanged whatever its percentage."""
    out: dict[str, Any] = {"metric": metric, "unit": unit, "threshold_pct": threshold_pct}
    if not base or not cur:
        return out | {"verdict": None, "reason": "not measured in both runs"}
    if float(np.median(base)) <= 0 or float(np.median(cur)) <= 0:  # net energy can be ~0 (idle noise)
        return out | {"verdict": None, "reason": "not comparable: a median is not positive"}
    mb, mc = float(np.median(base)), float(np.median(cur))
    change = mc / mb - 1.0
    t = threshold_pct / 100.0
    if abs(change) <= t or abs(mc - mb) <= floor:
        verdict = UNCHANGED
    elif change > t and min(cur) > max(base):
        verdict = REGRESSED
    elif change < -t and max(cur) < min(base):
        verdict = IMPROVED
    else:
        verdict = NOISY
    return out | {"verdict": verdict, "baseline": mb, "current": mc, "change_pct": _pct(change),
                  "reason": f"{_pct(change):+.1f} % (median of {len(base)} vs {len(cur)} runs)"}


def size_verdict(base: int | None, cur: int | None, threshold_pct: float) -> dict:
    out: dict[str, Any] = {"metric": "size", "unit": "bytes", "threshold_pct": threshold_pct}
    if not base or cur is None:
        return out | {"verdict": None, "reason": "no size in both runs"}
    change = cur / base - 1.0
    t = threshold_pct / 100.0
    verdict = REGRESSED if change > t else IMPROVED if change < -t else UNCHANGED
    return out | {"verdict": verdict, "baseline": base, "current": cur, "change_pct": _pct(change),
                  "reason": f"{_pct(change):+.2f} %"}


def accuracy_verdict(base: float | None, cur: float | None, drop_pp: float) -> dict:
    out: dict[str, Any] = {"metric": "accuracy", "unit": "top-1", "threshold_pp": drop_pp}
    if base is None or cur is None:
        return out | {"verdict": None, "reason": "no accuracy in both runs"}
    delta_pp = (cur - base) * 100.0
    verdict = REGRESSED if delta_pp < -drop_pp else IMPROVED if delta_pp > drop_pp else UNCHANGED
    return out | {"verdict": verdict, "baseline": base, "current": cur, "change_pp": round(delta_pp, 3),
                  "reason": f"{delta_pp:+.2f} points"}


def cell_verdict(base: CellData | None, cur: CellData | None, th: Thresholds = DEFAULT_THRESHOLDS) -> dict:
    """The whole verdict of one cell against its baseline cell (either may be missing)."""
    if cur is None:
        return {"verdict": MISSING, "reason": "not measured in this run", "metrics": {}}
    if not cur.ok:
        if base is not None and base.ok:
            return {"verdict": BROKEN, "reason": f"measured in the baseline, fails now: {cur.error}", "metrics": {}}
        return {"verdict": FAILED, "reason": cur.error or "failed", "metrics": {}}
    if base is None or not base.ok:
        return {"verdict": NEW, "reason": "no baseline measurement of this cell", "metrics": {}}
    if base.samples_ns and cur.samples_ns:
        latency = latency_verdict(base.samples_ns, cur.samples_ns, th)
    else:
        latency = {"metric": "latency", "verdict": None,
                   "reason": "no raw samples in both runs (a tool's summary only): latency not judged"}
    trust = {"baseline": cell_trust(base), "current": cell_trust(cur)}
    metrics = {
        "latency": untrusted(latency, trust),
        "size": size_verdict(base.size_bytes, cur.size_bytes, th.size_pct),
        "memory": (spread_verdict("memory", "MB model memory", base.model_memory_mb, cur.model_memory_mb,
                                  th.memory_pct, floor=th.memory_floor_mb)
                   if base.model_memory_mb and cur.model_memory_mb else
                   spread_verdict("memory", "MB peak RSS", base.peak_rss_mb, cur.peak_rss_mb, th.memory_pct,
                                  floor=th.memory_floor_mb)),
        "energy": spread_verdict("energy", "mJ/inference", base.energy_mj, cur.energy_mj, th.energy_pct),
        "accuracy": accuracy_verdict(base.accuracy, cur.accuracy, th.accuracy_pp),
    }
    if base.energy_estimated or cur.energy_estimated:
        metrics["energy"]["estimated"] = True
        metrics["energy"]["reason"] = (metrics["energy"].get("reason") or "") + " (ESTIMATED: informative only)"
    deciding = {name: m["verdict"] for name, m in metrics.items()
                if m["verdict"] is not None and not m.get("estimated")}
    overall = max(deciding.values(), key=lambda v: ORDER[v], default=UNCHANGED)
    notes = [f"{name} {m['verdict']}: {m['reason']}" for name, m in metrics.items()
             if m["verdict"] not in (None, UNCHANGED)]
    reason = "; ".join(notes) or metrics["latency"]["reason"]
    differs = environment_differences(base.environment, cur.environment)
    if differs:  # never judged silently across environments (pyperf's rule): say what differs
        return {"verdict": INCOMPARABLE, "differs": differs, "metrics": metrics, "would_be": overall,
                "trust": trust, "reason": (f"not comparable, measured differently: {'; '.join(differs)} "
                                           f"(the metrics would say {overall}: {reason})")}
    return {"verdict": overall, "reason": reason, "metrics": metrics, "trust": trust}
