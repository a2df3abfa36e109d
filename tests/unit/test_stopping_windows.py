"""The interval a rerun's median falls into (issue 16): windows, their medians, the t-interval, and a
simulated check that it covers reruns at its nominal rate where one window's interval does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_stopping import drive

from testbed_agent import stopping
from testbed_agent.power import PowerMeter
from testbed_agent.rerun_interval import METHOD, ONE_WINDOW, rerun_interval, t_quantile, window_medians
from testbed_agent.stopping import STOP_CI, STOP_MAX_S, STOP_MINIMUMS, RunControl, interval, median_ci
from testbed_agent.timing import _timed_loop


@pytest.mark.parametrize("df,expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622),
                                         (30, 2.0423), (1000, 1.9623)])
def test_t_quantile_matches_the_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=2e-4)
    assert t_quantile(0.995, 4) == pytest.approx(4.6041, rel=2e-4)


def _run(rng: np.random.Generator, windows: int = 5, per_window: int = 40, drift_pct: float = 2.0,
         noise_pct: float = 1.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One simulated run: each window's level moves by ``drift_pct`` (sd) around 1 ms, and each
    sample by ``noise_pct`` around its window's level."""
    levels = 1e6 * (1 + drift_pct / 100 * rng.standard_normal(windows))
    samples = np.concatenate([lv * (1 + noise_pct / 100 * rng.standard_normal(per_window)) for lv in levels])
    return samples, [(i * per_window, per_window) for i in range(windows)]


def test_the_window_interval_covers_reruns_at_its_nominal_rate_where_one_window_misses() -> None:
    """Between-window drift of 2 % over within-window noise of 1 %: the CI of one window's samples
    describes that window and a rerun's median lands in it far less often than 95 %; the
    prediction interval from 5 window medians covers at 95 % (within a binomial tolerance)."""
    rng = np.random.default_rng(16)
    trials = 600
    hits_windows = hits_one = 0
    for _ in range(trials):
        first, bounds = _run(rng)
        rerun, _ = _run(rng)
        rerun_median = float(np.median(rerun))
        found = rerun_interval(first, bounds, 0.95)
        assert found is not None and found.method == METHOD and found.windows == 5
        hits_windows += found.low <= rerun_median <= found.high
        one = median_ci(first, 0.95)
        assert one is not None
        hits_one += one.low <= rerun_median <= one.high
    tolerance = 3 * math.sqrt(0.95 * 0.05 / trials)  # 3 binomial standard deviations: ~0.027
    assert abs(hits_windows / trials - 0.95) <= tolerance, hits_windows / trials
    assert hits_one / trials < 0.5, hits_one / trials


def test_without_drift_the_window_interval_still_covers_and_is_not_absurdly_wide() -> None:
    rng = np.random.default_rng(7)
    trials, hits, widths = 400, 0, []
    for _ in range(trials):
        first, bounds = _run(rng, drift_pct=0.0)
        rerun, _ = _run(rng, drift_pct=0.0)
        found = rerun_interval(first, bounds, 0.95)
        assert found is not None
        hits += found.low <= float(np.median(rerun)) <= found.high
        widths.append(found.half_width_pct)
    assert abs(hits / trials - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / trials)
    assert float(np.median(widths)) < 1.0  # 1 % noise, 200 samples: well under ±1 %


def test_the_interval_is_centred_on_the_median_of_all_samples() -> None:
    samples = [10, 11, 12, 13, 14, 20, 21, 22, 23, 24]
    found = rerun_interval(samples, [(0, 5), (5, 5)], 0.95)
    assert found is not None
    assert found.median == 17.0 and found.center == 17.0
    assert list(window_medians(samples, [(0, 5), (5, 5)])) == [12.0, 22.0]
    half = t_quantile(0.975, 1) * float(np.std([12.0, 22.0], ddof=1)) * 1.0  # sqrt(1/2 + 1/2)
    assert (found.low, found.high) == pytest.approx((17 - half, 17 + half))
    with pytest.raises(ValueError, match="outside the 10 samples"):
        window_medians(samples, [(8, 5)])


def test_one_window_falls_back_to_the_order_statistics_ci_and_says_so() -> None:
    samples = list(range(100, 200))
    assert rerun_interval(samples, [(0, 100)], 0.95) is None
    found = interval(samples, [(0, 100)])
    assert found is not None and found.method == ONE_WINDOW
    assert found == median_ci(samples)
    assert interval(samples, []) == median_ci(samples)


def test_the_stopper_takes_at_least_five_windows_that_cover_every_sample() -> None:
    rng = np.random.default_rng(0)
    control = RunControl(min_runs=50, max_s=60.0, ci_target_pct=2.0)
    stopper, samples = drive(control, lambda: 1e6 * (1 + 0.01 * rng.standard_normal()))
    report = stopper.report()
    assert report["stop_reason"] == STOP_CI and report["ci_method"] == METHOD
    windows = report["windows"]
    assert len(windows) >= 5 and report["last_ci"]["windows"] == len(windows)
    assert [w["start_index"] for w in windows] == list(np.cumsum([0] + [w["n"] for w in windows[:-1]]))
    assert sum(w["n"] for w in windows) == len(samples) == report["last_ci"]["n"]
    assert all(w["n"] == 10 for w in windows[:5])  # 50 runs over 5 windows
    assert [w["t_start_s"] for w in windows] == sorted(w["t_start_s"] for w in windows)
    assert report["ci_checks"] == len(windows) - 4  # checked as each window closes, from the 5th


def test_drift_between_windows_keeps_the_stopper_going_until_max_s() -> None:
    """A stream whose level steps by 10 % every 25 runs: each window is tight, the medians are not
    (15 windows of 10 runs fit in 0.15 s: too few to pin a rerun within ±2 %)."""
    count = iter(range(10**7))
    stopper, samples = drive(RunControl(min_runs=50, max_s=0.15, ci_target_pct=2.0),
                             lambda: 1e6 * (1 + 0.1 * ((next(count) // 25) % 2)))
    report = stopper.report()
    assert report["stop_reason"] == STOP_MAX_S and report["ci_target_met"] is False
    assert len(samples) == 150 and report["last_ci"]["half_width_pct"] > 2.0


def test_without_a_target_the_windows_share_the_minimums() -> None:
    stopper, samples = drive(RunControl(min_runs=7), lambda: 1)
    assert len(samples) == 7 and stopper.reason == STOP_MINIMUMS
    assert [w["n"] for w in stopper.windows] == [2, 2, 1, 1, 1]
    stopper, samples = drive(RunControl(min_runs=1, windows=5), lambda: 1)
    assert len(samples) == 5  # at least one run a window
    stopper, samples = drive(RunControl(min_runs=1, windows=1), lambda: 1)
    assert len(samples) == 1 and stopper.report()["ci_method"] is None  # one sample: no interval


def test_a_run_cut_to_one_window_reports_the_one_window_interval() -> None:
    stopper, samples = drive(RunControl(min_runs=5000, max_s=0.5, ci_target_pct=1.0), lambda: 1e6)
    assert stopper.reason == STOP_MAX_S and len(stopper.windows) == 1 and len(samples) == 500
    assert stopper.report()["ci_method"] == ONE_WINDOW


def test_the_timed_loop_rewarms_between_windows_outside_the_samples() -> None:
    calls = []
    control = RunControl(warmup=3, min_runs=20, ci_target_pct=None, window_warmup=2)
    timed = _timed_loop(lambda: calls.append(1), control, PowerMeter({"sensor": "none"}))
    windows = timed["windows"]
    assert len(windows) == 5 and [w["n"] for w in windows] == [4] * 5
    assert len(timed["samples"]) == 20 and timed["stop_reason"] == STOP_MINIMUMS
    assert len(calls) == 3 + 20 + 2 * 4  # warm-up, timed, the re-warm-up before windows 2-5


@pytest.mark.parametrize("seed", range(6))
def test_the_cheap_precheck_stops_at_the_window_the_exact_check_would(seed: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The precheck only skips windows whose interval is clearly too wide: with it and without it
    (margin infinite: the exact interval every window), the same samples stop at the same window with
    the same interval - skewed samples (a slow tail) included."""
    def run(margin: float) -> tuple[int, dict]:
        monkeypatch.setattr(stopping, "PRECHECK_MARGIN", margin)
        rng = np.random.default_rng(seed)
        level = iter(1e6 * (1 + 0.03 * rng.standard_normal(100_000)))
        state = {"n": 0, "level": next(level)}

        def draw() -> float:
            state["n"] += 1
            if state["n"] % 10 == 0:
                state["level"] = next(level)  # the level moves every 10 samples (about a window)
            return state["level"] * (1 + 0.05 * rng.exponential())

        control = RunControl(min_runs=50, max_s=120.0, ci_target_pct=1.0)
        stopper, samples = drive(control, draw)
        return len(samples), stopper.report()

    n_pre, with_pre = run(1.25)
    n_exact, exact = run(float("inf"))
    assert with_pre["stop_reason"] == exact["stop_reason"] == STOP_CI
    assert n_pre == n_exact and with_pre["last_ci"] == exact["last_ci"]
