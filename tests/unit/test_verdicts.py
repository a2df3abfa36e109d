"""Regression verdicts on synthetic raw samples: shifted, noisy, unchanged (verdicts.py's rule)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from testbed import verdicts as v

MS = 1e6


def runs(medians_ms: list[float], n: int = 2000, sigma: float = 0.08, seed: int = 0) -> list[np.ndarray]:
    """One lognormal run of ``n`` samples per median (ns), the way latency samples look."""
    rng = np.random.default_rng(seed)
    return [np.exp(rng.normal(np.log(m * MS), sigma, n)) for m in medians_ms]


def test_same_distribution_is_unchanged() -> None:
    out = v.latency_verdict(runs([1.0, 1.0, 1.0], seed=1), runs([1.0, 1.0, 1.0], seed=2))
    assert out["verdict"] == v.UNCHANGED, out
    assert -5 < out["ci_pct"][0] <= out["change_pct"] <= out["ci_pct"][1] < 5


def test_clear_slowdown_is_regressed_and_speedup_improved() -> None:
    base = runs([1.0, 1.0, 1.0], seed=1)
    slow = v.latency_verdict(base, runs([1.3, 1.3, 1.3], seed=2))
    assert slow["verdict"] == v.REGRESSED and slow["p_value"] < 1e-6 and slow["ci_pct"][0] > 5, slow
    assert slow["change_pct"] == pytest.approx(30, abs=3)
    assert "p < 1e-6" in slow["reason"] and "e-3" not in slow["reason"]  # not p=0 or p=1e-300
    fast = v.latency_verdict(base, runs([0.7, 0.7, 0.7], seed=3))
    assert fast["verdict"] == v.IMPROVED and fast["ci_pct"][1] < -5, fast


def test_small_real_change_is_significant_but_unchanged() -> None:
    """+2 %: the U test sees it (many samples), but the whole interval is inside the 5 % threshold."""
    out = v.latency_verdict(runs([1.0] * 3, n=5000, seed=1), runs([1.02] * 3, n=5000, seed=2))
    assert out["significant"] and out["verdict"] == v.UNCHANGED, out


def test_run_to_run_noise_is_noisy_never_regressed() -> None:
    """Repeats whose medians wander by +-15 %: a +8 % change in the pooled median is not a regression."""
    base = runs([0.85, 1.0, 1.15], seed=1)
    cur = runs([0.95, 1.08, 1.25], seed=2)
    out = v.latency_verdict(base, cur)
    assert out["change_pct"] > 5  # the point estimate alone would cross the threshold...
    assert out["verdict"] == v.NOISY, out  # ...but the interval straddles it
    assert out["ci_pct"][0] < 5 < out["ci_pct"][1]


def test_significant_change_whose_interval_crosses_the_threshold_is_noisy() -> None:
    out = v.latency_verdict(runs([1.0] * 3, seed=1), runs([1.05] * 3, seed=2))
    assert out["significant"] and out["ci_pct"][0] < 5 < out["ci_pct"][1]
    assert out["verdict"] == v.NOISY, out


def test_too_few_samples_is_noisy() -> None:
    out = v.latency_verdict([np.array([1e6, 1e6])], [np.array([5e6, 5e6, 5e6])])
    assert out["verdict"] == v.NOISY and "too few" in out["reason"]


def test_bootstrap_is_deterministic_and_covers_the_estimate() -> None:
    base, cur = runs([1.0, 1.1], seed=4), runs([1.2, 1.25], seed=5)
    a = v.bootstrap_median_ratio(base, cur, seed=3)
    assert a == v.bootstrap_median_ratio(base, cur, seed=3)
    est = np.median(np.concatenate(cur)) / np.median(np.concatenate(base)) - 1
    assert a[0] <= est <= a[1]


def test_size_memory_energy_accuracy() -> None:
    assert v.size_verdict(1000, 1100, 1.0)["verdict"] == v.REGRESSED
    assert v.size_verdict(1000, 1005, 1.0)["verdict"] == v.UNCHANGED
    assert v.size_verdict(1000, 500, 1.0)["verdict"] == v.IMPROVED
    assert v.spread_verdict("memory", "MB", [50, 51, 52], [70, 71, 72], 10)["verdict"] == v.REGRESSED
    # +15 % median but the ranges overlap: noisy, not regressed
    assert v.spread_verdict("memory", "MB", [40, 50, 70], [45, 57.5, 75], 10)["verdict"] == v.NOISY
    assert v.spread_verdict("energy", "mJ", [1.0, 1.02], [1.03, 1.01], 10)["verdict"] == v.UNCHANGED
    assert v.accuracy_verdict(0.97, 0.90, 1.0)["verdict"] == v.REGRESSED
    assert v.accuracy_verdict(0.97, 0.965, 1.0)["verdict"] == v.UNCHANGED


def cell(medians: list[float], seed: int, **kw: Any) -> v.CellData:
    base: dict[str, Any] = dict(samples_ns=runs(medians, seed=seed), size_bytes=40000, peak_rss_mb=[60.0] * len(medians),
                energy_mj=[0.5] * len(medians), accuracy=0.97)
    return v.CellData(**(base | kw))


def test_cell_verdict_is_the_worst_metric_and_estimates_never_decide() -> None:
    base = cell([1.0] * 3, 1)
    assert v.cell_verdict(base, cell([1.0] * 3, 2))["verdict"] == v.UNCHANGED
    bigger = v.cell_verdict(base, cell([0.7] * 3, 2, size_bytes=60000))
    assert bigger["verdict"] == v.REGRESSED and "size regressed" in bigger["reason"]
    assert bigger["metrics"]["latency"]["verdict"] == v.IMPROVED
    hotter = v.cell_verdict(cell([1.0] * 3, 1, energy_estimated=True),
                            cell([1.0] * 3, 2, energy_mj=[0.9] * 3, energy_estimated=True))
    assert hotter["metrics"]["energy"]["verdict"] == v.REGRESSED and hotter["metrics"]["energy"]["estimated"]
    assert hotter["verdict"] == v.UNCHANGED


def test_failed_new_and_broken_cells() -> None:
    ok, bad = cell([1.0], 1), v.CellData(ok=False, error="worker crashed")
    assert v.cell_verdict(ok, bad)["verdict"] == v.BROKEN
    assert v.cell_verdict(bad, bad)["verdict"] == v.FAILED
    assert v.cell_verdict(None, ok)["verdict"] == v.NEW
    assert v.cell_verdict(ok, None)["verdict"] == v.MISSING


def test_no_raw_samples_leaves_latency_unjudged() -> None:
    """A board whose tool gives only a summary (no raw samples): latency is not judged, the rest is."""
    base, cur = cell([1.0], 1, samples_ns=[]), cell([1.0], 2, samples_ns=[], size_bytes=50000)
    out = v.cell_verdict(base, cur)
    assert out["metrics"]["latency"]["verdict"] is None and "not judged" in out["metrics"]["latency"]["reason"]
    assert out["verdict"] == v.REGRESSED and "size regressed" in out["reason"]


def test_memory_uses_the_model_share_and_ignores_tiny_changes() -> None:
    # peak RSS grew (a bigger sample buffer), the model's own memory did not: unchanged
    base = cell([1.0] * 3, 1, peak_rss_mb=[60.0] * 3, model_memory_mb=[4.0, 4.1, 4.0])
    cur = cell([1.0] * 3, 2, peak_rss_mb=[70.0] * 3, model_memory_mb=[4.05, 4.1, 4.0])
    out = v.cell_verdict(base, cur)
    assert out["metrics"]["memory"]["unit"] == "MB model memory" and out["metrics"]["memory"]["verdict"] == v.UNCHANGED
    # +25 % of a 2 MB model is half a MB: below the floor
    small = v.spread_verdict("memory", "MB", [2.0, 2.0], [2.5, 2.5], 10, floor=1.0)
    assert small["verdict"] == v.UNCHANGED
    assert v.spread_verdict("memory", "MB", [20.0, 20.0], [25.0, 25.0], 10, floor=1.0)["verdict"] == v.REGRESSED


def test_tiny_p_values_print_as_below_the_floor() -> None:
    """The verdict tables show ``< 1e-6``, never ``<1e-300`` (issue 11)."""
    import io

    from rich.console import Console

    from testbed.report import html, verdict_table

    row = {"device": "b", "model": "m", "converter": "c", "threads": 1, "state": "done", "p50_ms": 1.0,
           "baseline_p50_ms": 0.8, "latency_change_pct": 25.0, "latency_ci_low_pct": 20.0,
           "latency_ci_high_pct": 30.0, "latency_p_value": 0.0, "verdict": "regressed", "verdict_reason": "x"}
    out = io.StringIO()
    verdict_table.render([row], "t", Console(file=out, width=300, color_system=None))
    assert "< 1e-6" in out.getvalue() and "1e-300" not in out.getvalue()
    assert html._p(0.0) == "&lt; 1e-6" and html._p(2e-9) == "&lt; 1e-6" and html._p(0.5) == "0.5"
