"""How far a rerun's median moves on this board: the run-to-run spread from the store's own history.

**Why.** The interval a run reports (``rerun_interval``: from its timing windows, or from fresh
workers with ``--repeats``) sees only what happens inside that run. On a real board - and on the VM
that runs our CI - the speed also moves *between* runs: a fresh process lands on other cores or another
memory layout (ONNX Runtime on this machine runs either ~7.7 ms or ~10.7 ms per process, bimodal), and
the machine's speed drifts over minutes. No run of a few seconds can see that; reruns of the same
artifact on the same board can. bench/README.md ("Board history") has the figures: the windows' interval
held 9-51 % of reruns, five fresh workers 60-82 %, the board's history ~95 %.

**The statistic.** For one board and one runtime, take the newest ``HISTORY_RESULTS`` ok results
that have a plan cell (every deploy and plan run since deploys became runs) and group them by variant:
the cell key (device/model/converter/threads), the artifact's sha256, the runtime's version and the
preset - the same bytes, measured again the same way (``Store.rerun_history``). Results the trust verdict
calls contended or throttled are left out (other load or heat, not the board as it is), as are results
without a verdict (records from before trust verdicts) and sustained runs.
Within each group the log medians deviate from their mean; the pooled standard deviation

    s = sqrt( sum_g sum_i (log m_gi - mean_g)^2 / sum_g (n_g - 1) ),   df = sum_g (n_g - 1)

is the relative spread of one run's median around the variant's own level (log scale: a board that is
10 % slower is 10 % slower for every variant, so variants of different speed pool). A rerun's median
differs from this run's by a difference of two such draws, variance 2 s^2, so the interval where the
rerun lands is

    p50 * exp(± t_{df, (1+c)/2} * sqrt(2) * s)

(Student t: ``s`` is itself estimated). It is used when it is wider than the run's own interval
(which it then replaces, the run's own kept as ``ci_run``); ``board_spread`` in ``latency_ms`` says what
was found either way. Below ``MIN_DF`` degrees of freedom (fewer than 5 reruns of a variant, or of a
few variants together) nothing is claimed: ``board_spread`` says so and the run's own interval stands.

Assumptions, said plainly: the board's spread now is its spread over its recent history (a board that
was re-flashed, re-cooled or moved to another host keeps the history of before until
``HISTORY_RESULTS`` newer results push it out); the log medians are roughly normal (ONNX Runtime's two
speeds are not: the interval then covers more than 95 %, checked in ``bench/coverage.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from testbed_agent.rerun_interval import t_quantile
from testbed_agent.stopping import DEFAULT_CONFIDENCE

#: How many of the board's newest results (of one runtime) its spread is estimated from.
HISTORY_RESULTS = 500
#: Degrees of freedom needed before the spread is used (5 runs of one variant, or e.g. 3 + 3 + 2 + 2 runs of four).
MIN_DF = 4
METHOD = ("board run-to-run spread: Student t on the medians of earlier reruns of the same artifacts of "
          "this runtime on this board (testbed store)")


@dataclass(frozen=True)
class BoardSpread:
    """The run-to-run spread of one runtime's medians on one board (see the module docstring)."""

    device: str
    runtime: str
    sd_log: float | None  # pooled standard deviation of log(p50) within variants; None below MIN_DF
    df: int  # sum over variants of (runs - 1)
    reruns: int  # results in variants measured at least twice
    variants: int  # such variants
    reason: str | None = None  # why the spread is not used (too few reruns), else None

    @property
    def sd_pct(self) -> float | None:
        """The spread as % of the median (exp(s) - 1)."""
        return None if self.sd_log is None else (math.exp(self.sd_log) - 1.0) * 100.0

    def half_width_log(self, confidence: float = DEFAULT_CONFIDENCE) -> float | None:
        """t * sqrt(2) * s: the interval's half-width on the log scale; None when not estimated."""
        if self.sd_log is None:
            return None
        return t_quantile((1.0 + confidence) / 2.0, self.df) * math.sqrt(2.0) * self.sd_log

    def to_json(self, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
        h = self.half_width_log(confidence)
        return {**asdict(self), "sd_pct": self.sd_pct, "confidence": confidence,
                "half_width_pct": None if h is None else (math.exp(h) - 1.0) * 100.0, "method": METHOD}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BoardSpread:
        return cls(device=data["device"], runtime=data["runtime"], sd_log=data.get("sd_log"),
                   df=int(data.get("df") or 0), reruns=int(data.get("reruns") or 0),
                   variants=int(data.get("variants") or 0), reason=data.get("reason"))


def estimate(device: str, runtime: str, history: Iterable[tuple[str, float]]) -> BoardSpread:
    """The spread from ``history``: ``(variant key, median ms)`` of earlier results, any order."""
    groups: dict[str, list[float]] = {}
    for key, median in history:
        if median is not None and median > 0:
            groups.setdefault(key, []).append(math.log(median))
    repeated = [g for g in groups.values() if len(g) >= 2]
    df = sum(len(g) - 1 for g in repeated)
    reruns = sum(len(g) for g in repeated)
    if df < MIN_DF:
        return BoardSpread(device, runtime, None, df, reruns, len(repeated),
                           reason=f"{reruns} earlier reruns of {len(repeated)} variants of {runtime} on {device} "
                                  f"({df} degrees of freedom, {MIN_DF} needed): the interval is this run's own "
                                  "and does not cover the board's run-to-run spread yet")
    squares = sum(sum((x - sum(g) / len(g)) ** 2 for x in g) for g in repeated)
    return BoardSpread(device, runtime, math.sqrt(squares / df), df, reruns, len(repeated))


def widen(latency: dict[str, Any], spread: BoardSpread) -> dict[str, Any]:
    """``latency`` (a ``stats`` summary) with ``board_spread``, and its interval replaced by the
    board's where that is wider (the run's own then kept as ``ci_run``). A summary without p50 is
    returned unchanged."""
    p50 = latency.get("p50")
    if not p50:
        return latency
    confidence = float(latency.get("ci_level") or DEFAULT_CONFIDENCE)
    out = dict(latency, board_spread=spread.to_json(confidence))
    h = spread.half_width_log(confidence)
    if h is None:
        return out
    low, high = p50 * math.exp(-h), p50 * math.exp(h)
    own_low, own_high = latency.get("ci_low"), latency.get("ci_high")
    if own_low is not None and own_high is not None and own_low <= low and own_high >= high:
        return out  # the run's own interval already holds the board's spread
    out["ci_run"] = {"low": own_low, "high": own_high, "pct": latency.get("ci_pct"),
                     "method": latency.get("ci_method")}
    out.update(ci_low=min(low, own_low) if own_low is not None else low,
               ci_high=max(high, own_high) if own_high is not None else high, ci_method=METHOD)
    out["ci_pct"] = max(p50 - out["ci_low"], out["ci_high"] - p50) / p50 * 100.0
    return out


def apply(results: list[tuple[dict, list[int], list]], spread: BoardSpread) -> None:
    """Widen the interval of every ok record of a cell's ``results`` (``(record, samples, power)``) in place."""
    for record, _samples, _power in results:
        if record.get("status") == "ok" and record.get("latency_ms"):
            record["latency_ms"] = widen(record["latency_ms"], spread)


def own_ci_pct(latency: dict[str, Any]) -> float | None:
    """The run's own ± (its windows' or workers'), before any widening to the board's spread."""
    return (latency.get("ci_run") or {}).get("pct", latency.get("ci_pct"))
