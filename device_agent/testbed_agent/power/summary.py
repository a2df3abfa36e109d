"""From samples to the power record of a run.

Method (written into the record as ``method``):

* ``trapezoid`` (instantaneous-power sensors): over the samples inside a window [a, b]
  (a <= t_ns <= b; the sampler reads at a and at b, so the window edges are samples),
  energy_j = sum((w[i] + w[i+1]) / 2 * (t[i+1] - t[i]) / 1e9);
  mean power = energy_j / (t_last - t_first).
* ``counter_delta`` (cumulative sensors: rapl, pixel_odpm): mean power = (E_last - E_first) / dt
  between the first and last counter readings in the window (dt from the counter's own timestamps
  when it has them, else the sample timestamps). Instantaneous values are not integrated; with the
  sampler's edge readings, active_w * duration is the counter delta itself.

Then, with ``active_duration_s = (b - a) / 1e9`` of the active window:

  energy_mj_per_inference_gross = active_w * active_duration_s / inferences * 1000
  energy_mj_per_inference       = (active_w - idle_w) * active_duration_s / inferences * 1000

``idle_w`` is the mean power over the idle window, by the same method. Missing is missing: any
sensor failure sets ``missing_reason`` and every figure to None.

``idle_source`` says where ``idle_w`` comes from: ``"measured"`` (this run's idle window),
``"cached"`` (a baseline the agent measured in an earlier run with the same sensor settings and
reuses while it holds - ``idle_baseline`` then names that run, the window, and its age in
seconds at the start of this run), or None (no idle figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One reading with its perf_counter_ns timestamp (fields as in ``base.Reading``)."""

    t_ns: int
    watts: float | None
    energy_uj: float | None = None
    counter_t_ns: int | None = None
    estimated: bool = False


def trapezoid_j(points: Sequence[tuple[int, float]]) -> float:
    """Joules under (t_ns, watts) points by the trapezoid rule."""
    return sum((w0 + w1) / 2 * (t1 - t0) / 1e9 for (t0, w0), (t1, w1) in pairwise(points))


def window_watts(samples: Sequence[Sample], window: Sequence[int],
                 cumulative: bool) -> tuple[float | None, str | None]:
    """(mean watts over ``window``, None) or (None, the reason it cannot be computed)."""
    a, b = window
    inside = [s for s in samples if a <= s.t_ns <= b]
    if cumulative:
        pts = [s for s in inside if s.energy_uj is not None]
        if len(pts) < 2:
            return None, f"fewer than 2 counter readings in the window ({len(pts)})"
        first, last = pts[0], pts[-1]
        if first.counter_t_ns is not None and last.counter_t_ns is not None:
            span_ns = last.counter_t_ns - first.counter_t_ns
        else:
            span_ns = last.t_ns - first.t_ns
        if span_ns <= 0:
            return None, "the energy counter did not advance over the window (driver not refreshed)"
        joules = (float(last.energy_uj or 0) - float(first.energy_uj or 0)) / 1e6
        return joules / (span_ns / 1e9), None
    pts2 = [(s.t_ns, s.watts) for s in inside if s.watts is not None]
    if len(pts2) < 2 or pts2[-1][0] <= pts2[0][0]:
        return None, f"fewer than 2 power readings in the window ({len(pts2)})"
    return trapezoid_j(pts2) / ((pts2[-1][0] - pts2[0][0]) / 1e9), None


def achieved_hz(samples: Sequence[Sample]) -> float | None:
    """Readings per second over the whole sampling (edge readings included)."""
    if len(samples) < 2 or samples[-1].t_ns <= samples[0].t_ns:
        return None
    return (len(samples) - 1) / ((samples[-1].t_ns - samples[0].t_ns) / 1e9)


def summarize(samples: Sequence[Sample], *, sensor: str, windows: Mapping[str, Sequence[int]],
              inferences: int, rate_hz_requested: float, cumulative: bool = False,
              estimated: bool = False, missing_reason: str | None = None,
              what: str | None = None,
              idle_baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The power record (see the module docstring for every formula)."""
    idle_win, active_win = windows.get("idle"), windows.get("active")
    if idle_baseline is not None:
        idle_win = idle_baseline.get("idle_window_ns")
    idle_w = active_w = None
    idle_reason: str | None = None
    if missing_reason is None:
        if active_win is None or len(active_win) != 2:
            missing_reason = "the active window was not marked"
        elif inferences <= 0:
            missing_reason = "no inferences in the active window"
        else:
            active_w, missing_reason = window_watts(samples, active_win, cumulative)
    if missing_reason is None:
        if idle_baseline is not None:
            idle_w = idle_baseline.get("idle_w")
            idle_reason = None if idle_w is not None else "the cached idle baseline has no figure"
        elif idle_win is None or len(idle_win) != 2:
            idle_reason = "no idle window (idle_window_s = 0)"
        else:
            idle_w, idle_reason = window_watts(samples, idle_win, cumulative)
    duration_s = (active_win[1] - active_win[0]) / 1e9 if active_win and len(active_win) == 2 else None
    gross = net = None
    if active_w is not None and duration_s is not None:
        gross = active_w * duration_s / inferences * 1000
        if idle_w is not None:
            net = (active_w - idle_w) * duration_s / inferences * 1000
    record: dict[str, Any] = {
        "sensor": sensor,
        "what": what or sensor,
        "estimated": bool(estimated or any(s.estimated for s in samples)),
        "method": "counter_delta" if cumulative else "trapezoid",
        "rate_hz_requested": rate_hz_requested,
        "rate_hz_achieved": achieved_hz(samples),
        "idle_window_ns": list(idle_win) if idle_win and len(idle_win) == 2 else None,
        "active_window_ns": list(active_win) if active_win and len(active_win) == 2 else None,
        "active_duration_s": duration_s,
        "inferences": inferences,
        "idle_w": idle_w,
        "active_w": active_w,
        "energy_mj_per_inference": net,
        "energy_mj_per_inference_gross": gross,
        "samples": [[s.t_ns, s.watts] for s in samples],
        "missing_reason": missing_reason,
        "idle_missing_reason": idle_reason,
        "idle_source": None if idle_w is None else ("cached" if idle_baseline is not None
                                                    else "measured"),
    }
    if idle_baseline is not None:
        record["idle_baseline"] = {k: idle_baseline.get(k) for k in ("run_id", "age_s",
                                                                     "idle_window_ns", "idle_w")}
    if cumulative:
        record["counter_samples"] = [[s.t_ns, s.energy_uj, s.counter_t_ns] for s in samples]
    return record
