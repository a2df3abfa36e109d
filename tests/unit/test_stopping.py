"""Run control and the CI of the median (testbed_agent.stopping), against scipy and by hand.

The stopper is driven with a fake clock and synthetic samples: no timing of this machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from testbed_agent.stopping import (
    STOP_CI,
    STOP_MAX_S,
    STOP_MAX_SAMPLES,
    STOP_MINIMUMS,
    RunControl,
    Stopper,
    median_ci,
    median_ci_ranks,
    sure_runs,
    warm_up,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("n", list(range(1, 120)) + [199, 500, 1001, 4096, 10_000, 123_457])
@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_ranks_match_scipy_binomial(n: int, confidence: float) -> None:
    tail = (1 - confidence) / 2
    cdf = scipy_stats.binom.cdf(np.arange(0, n // 2 + 1), n, 0.5)
    ok = np.nonzero(cdf <= tail)[0]
    got = median_ci_ranks(n, confidence)
    if ok.size == 0:
        assert got is None
        return
    lower = int(ok[-1]) + 1
    assert got is not None
    assert got[:2] == (lower, n - lower + 1)
    assert got[2] == pytest.approx(1 - 2 * cdf[ok[-1]], abs=1e-9)
    assert got[2] >= confidence


def test_small_samples_have_no_interval() -> None:
    assert median_ci_ranks(5) is None and median_ci([1, 2, 3, 4, 5]) is None
    assert median_ci_ranks(6) == (1, 6, pytest.approx(1 - 2 / 64))


def test_median_ci_by_hand() -> None:
    # n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024, so [x(2), x(9)].
    samples = [9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0, 10.0]
    ci = median_ci(samples)
    assert ci is not None
    assert (ci.low, ci.median, ci.high) == (2.0, 5.5, 9.0)
    assert (ci.lower_rank, ci.upper_rank, ci.n) == (2, 9, 10)
    assert ci.coverage == pytest.approx(1 - 2 * 11 / 1024)
    assert ci.half_width_pct == pytest.approx(3.5 / 5.5 * 100)
    assert not ci.within(50) and ci.within(64)


def test_coverage_is_distribution_free() -> None:
    """For skewed (exponential) samples the interval still covers the true median (ln 2) at
    least 95 % of the time, as the binomial argument promises."""
    rng = np.random.default_rng(1)
    n, trials = 31, 3000
    hits = 0
    for _ in range(trials):
        ci = median_ci(rng.exponential(size=n))
        assert ci is not None
        hits += ci.low <= math.log(2) <= ci.high
    coverage = median_ci_ranks(n)[2]  # type: ignore[index]
    sigma = math.sqrt(coverage * (1 - coverage) / trials)
    assert abs(hits / trials - coverage) < 4 * sigma


class Clock:
    def __init__(self) -> None:
        self.ns = 0
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.ns


def drive(control: RunControl, draw: Callable[[], float], step_ns: int = 1_000_000,
          limit: int = 10**6) -> tuple[Stopper, list[int]]:
    """Feed the stopper one sample per simulated inference of ``step_ns``."""
    clock = Clock()
    stopper = Stopper(control, clock=clock)
    stopper.start()
    samples: list[int] = []
    while not stopper.done(samples):
        samples.append(int(draw()))
        clock.ns += step_ns
        assert len(samples) < limit
    return stopper, samples


def test_steady_samples_stop_on_the_ci_target_with_few_checks() -> None:
    rng = np.random.default_rng(0)
    control = RunControl(min_runs=50, min_s=0.0, max_s=60.0, ci_target_pct=1.0)
    stopper, samples = drive(control, lambda: 1e6 * (1 + 0.01 * rng.standard_normal()))
    report = stopper.report()
    assert report["stop_reason"] == STOP_CI and report["ci_target_met"] is True
    assert 50 <= len(samples) < 200
    assert report["last_ci"]["half_width_pct"] <= 1.0 and report["last_ci"]["n"] == len(samples)
    assert stopper.checks < len(samples) / 4  # checked every so often, not every inference


def test_noisy_samples_run_to_max_s_and_say_the_target_was_missed() -> None:
    rng = np.random.default_rng(0)
    control = RunControl(min_runs=10, max_s=2.0, ci_target_pct=1.0)
    stopper, samples = drive(control, lambda: 1e6 * rng.uniform(0.5, 5.0), step_ns=5_000_000)
    report = stopper.report()
    assert report["stop_reason"] == STOP_MAX_S and report["ci_target_met"] is False
    assert len(samples) == 400  # 2 s of 5 ms inferences
    assert report["last_ci"]["n"] == 400 and report["last_ci"]["half_width_pct"] > 1.0


def test_without_a_target_it_stops_when_both_minimums_are_met() -> None:
    stopper, samples = drive(RunControl(min_runs=7), lambda: 1)
    assert len(samples) == 7 and stopper.reason == STOP_MINIMUMS and stopper.checks == 0
    assert stopper.report()["ci_target_met"] is None
    # min_s wins when it is the longer one: 2.5 s of 1 ms inferences.
    stopper, samples = drive(RunControl(min_runs=7, min_s=2.5), lambda: 1)
    assert len(samples) == 2500 and stopper.reason == STOP_MINIMUMS


def test_the_ci_target_does_not_stop_before_the_minimums() -> None:
    control = RunControl(min_runs=1024, min_s=3.0, max_s=100, ci_target_pct=5.0)
    stopper, samples = drive(control, lambda: 1_000_000)  # constant: the CI is met at once
    assert stopper.reason == STOP_CI and len(samples) >= 3000  # 3 s of 1 ms


def test_max_s_beats_the_minimums_and_the_cap_is_honoured() -> None:
    stopper, samples = drive(RunControl(min_runs=1000, max_s=0.1), lambda: 1)
    assert stopper.reason == STOP_MAX_S and len(samples) == 100
    stopper, samples = drive(RunControl(min_runs=10, min_s=50, max_samples=30), lambda: 1)
    assert stopper.reason == STOP_MAX_SAMPLES and len(samples) == 30


def test_warm_up_needs_both_count_and_seconds() -> None:
    clock = Clock()
    calls: list[int] = []

    def run() -> None:
        calls.append(1)
        clock.ns += 10_000_000  # 10 ms

    assert warm_up(run, RunControl(warmup=3, warmup_min_s=0.0), clock) == (3, pytest.approx(0.03))
    calls.clear()
    count, seconds = warm_up(run, RunControl(warmup=3, warmup_min_s=0.5), clock)
    assert count == len(calls) == 50 and seconds == pytest.approx(0.5)
    assert warm_up(run, RunControl(warmup=0), clock)[0] == 0


def test_run_control_from_request_and_validation() -> None:
    legacy = RunControl.from_request({"warmup": 2, "iterations": 5})
    assert (legacy.warmup, legacy.min_runs, legacy.min_s, legacy.max_s, legacy.ci_target_pct) \
        == (2, 5, 0.0, None, None)
    full = RunControl.from_request({"warmup": 1, "warmup_min_s": 0.5, "iterations": 20,
                                    "min_time_s": 1, "max_time_s": 9, "ci_target_pct": 2})
    assert (full.warmup_min_s, full.min_s, full.max_s, full.ci_target_pct) == (0.5, 1.0, 9.0, 2.0)
    with pytest.raises(ValueError, match="max_s"):
        RunControl(min_s=5, max_s=1)
    with pytest.raises(ValueError, match="ci_target_pct"):
        RunControl(ci_target_pct=0)


def test_the_runs_taken_without_asking_the_stopper_are_the_minimum_that_fits_in_half_of_max_s() -> None:
    assert sure_runs(RunControl(min_runs=400), 10, 0.001) == 400  # no max_s: the minimum, whatever the pace
    assert sure_runs(RunControl(min_runs=400, max_samples=100), 10, 0.001) == 100
    assert sure_runs(RunControl(min_runs=400, max_s=10.0), 10, 0.001) == 400  # 0.1 ms a run: plenty of room
    assert sure_runs(RunControl(min_runs=400, max_s=1.0), 10, 0.1) == 50  # 10 ms a run: half of 1 s is 50 runs
    assert sure_runs(RunControl(min_runs=400, max_s=1.0), 0, 0.0) == 0  # no warm-up: no pace to judge by
