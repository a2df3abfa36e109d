"""When to stop: warm-up and timed-run control in windows, with adaptive stopping on the reported interval.

numpy only: it runs on the board inside the worker. The host imports ``median_ci`` from here so
the statistic has exactly one implementation (the host may import the agent, never the reverse).

**Confidence interval of the median, distribution-free.** Sort the n samples
x(1) <= ... <= x(n). For B ~ Binomial(n, 1/2), the interval [x(l), x(u)] with u = n - l + 1
covers the true median with probability 1 - 2 P(B <= l - 1), whatever the distribution of the
samples (they only need to be independent draws of it). ``l`` is the largest rank with
P(B <= l - 1) <= (1 - confidence) / 2, so the coverage is at least ``confidence``. Below n = 6 no
rank qualifies at 95 %: there is no such interval (None), never a made-up one.

**Run control** (``RunControl``): warm up for at least ``warmup`` runs *and* ``warmup_min_s``;
then time runs in **windows**: at least ``windows`` (5) of them, each after ``window_warmup`` untimed
runs (not the first: the warm-up just ran), together at least ``min_runs`` runs *and* ``min_s``
seconds (each window takes its share of what is left). From there, one more window at a time until
the reported interval is within ``ci_target_pct`` % of the median (``None``: stop as soon as the
minimums are met), or until ``max_s`` seconds or ``max_samples`` runs, whichever comes first. The
interval is checked only when a window closes, never between the timed runs of a window, and
cheaply first (``PRECHECK_MARGIN``): the exact interval, a median of every sample, only when the
window medians' own spread says it may be within the target.

**The reported interval** (``interval``): from 2 windows up, the prediction interval of a rerun's
median from the window medians (``rerun_interval``: a CI from consecutive samples of one window
describes that window, not the board - between-window drift moves the median); with one window
(a run cut short by ``max_s``, or an old result), the order-statistics CI above, and
``ci_method`` says which.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .rerun_interval import ONE_WINDOW, RerunInterval, from_medians, rerun_interval, t_quantile

DEFAULT_CONFIDENCE = 0.95
#: A hard bound on the samples kept (memory on the board, and the JSON sent back).
MAX_SAMPLES = 1_000_000
#: The timed phase is at least this many windows (the interval needs their spread).
DEFAULT_WINDOWS = 5
#: Untimed runs before each window after the first (caches and branch predictors after the
#: previous window's bookkeeping; the first window follows the full warm-up).
WINDOW_WARMUP = 2

#: The exact interval check runs only when the cheap one (window medians' mean as the centre) is
#: within this many times the target: the p50 of all samples sits close to that mean, so a window
#: that could stop the run is never skipped (a skewed distribution at worst costs an exact check).
PRECHECK_MARGIN = 1.25

#: Why a timed loop stopped (``Stopper.reason``).
STOP_CI = "ci_target_met"  # the minimums were met and then the reported interval was within target
STOP_MINIMUMS = "minimums_met"  # no CI target: stopped as soon as min_runs and min_s were met
STOP_MAX_S = "max_s_reached"  # the time limit came first (the CI target, if any, was not met)
STOP_MAX_SAMPLES = "max_samples_reached"  # the sample cap came first


@functools.lru_cache(maxsize=512)
def median_ci_ranks(n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[int, int, float] | None:
    """1-based ranks ``(l, u)`` of the order statistics bounding the median, and the exact coverage.

    None when ``n`` is too small for ``confidence`` (n < 6 at 95 %).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 1:
        return None
    tail = (1.0 - confidence) / 2.0
    half = n // 2
    # The binomial lower tail beyond 10 standard deviations (sqrt(n)/2 each) is < 1e-23: start
    # there and build the pmf upwards with pmf(k+1) = pmf(k) (n-k)/(k+1), in logs.
    k0 = max(0, int(math.floor(n / 2 - 5 * math.sqrt(n))))
    ks = np.arange(k0, half + 1, dtype=np.float64)
    log_pmf0 = math.lgamma(n + 1) - math.lgamma(k0 + 1) - math.lgamma(n - k0 + 1) - n * math.log(2)
    steps = np.log(n - ks[:-1]) - np.log(ks[:-1] + 1)
    log_pmf = log_pmf0 + np.concatenate(([0.0], np.cumsum(steps)))
    cdf = np.cumsum(np.exp(log_pmf))  # P(B <= k) for k = k0..half
    ok = np.nonzero(cdf <= tail)[0]
    if ok.size == 0:
        return None
    j = int(ks[ok[-1]])  # largest k with P(B <= k) <= tail; the lower rank is l = k + 1
    lower = j + 1
    upper = n - lower + 1
    if lower > upper:
        return None
    return lower, upper, float(1.0 - 2.0 * cdf[ok[-1]])


@dataclass(frozen=True)
class MedianCI:
    """The median of the samples and its distribution-free confidence interval."""

    n: int
    median: float
    low: float
    high: float
    lower_rank: int  # 1-based rank of ``low`` in the sorted samples
    upper_rank: int
    confidence: float  # requested
    coverage: float  # exact coverage of [x(l), x(u)] (>= confidence)
    method: str = ONE_WINDOW

    @property
    def half_width_pct(self) -> float:
        """The larger distance from the median to a bound, as % of the median (the "±" figure)."""
        if self.median == 0:
            return math.inf if self.high > self.low else 0.0
        return max(self.median - self.low, self.high - self.median) / abs(self.median) * 100.0

    def within(self, target_pct: float) -> bool:
        """True when both bounds are within ``target_pct`` % of the median."""
        return self.half_width_pct <= target_pct

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "half_width_pct": self.half_width_pct}


def median_ci(samples: Sequence[float] | np.ndarray,
              confidence: float = DEFAULT_CONFIDENCE) -> MedianCI | None:
    """The CI of the median of ``samples`` (any unit), or None when there are too few of them.

    O(n) (``np.partition``), cheap enough to call on a million samples every so often.
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    n = int(values.size)
    ranks = median_ci_ranks(n, confidence)
    if ranks is None:
        return None
    lower, upper, coverage = ranks
    mid_lo, mid_hi = (n - 1) // 2, n // 2
    part = np.partition(values, sorted({lower - 1, mid_lo, mid_hi, upper - 1}))
    median = (part[mid_lo] + part[mid_hi]) / 2.0
    return MedianCI(n=n, median=float(median), low=float(part[lower - 1]),
                    high=float(part[upper - 1]), lower_rank=lower, upper_rank=upper,
                    confidence=confidence, coverage=coverage)


@dataclass(frozen=True)
class RunControl:
    """How long to warm up and to time (see the module docstring)."""

    warmup: int = 10
    warmup_min_s: float = 0.0
    min_runs: int = 50
    min_s: float = 0.0
    max_s: float | None = None
    ci_target_pct: float | None = None
    confidence: float = DEFAULT_CONFIDENCE
    windows: int = DEFAULT_WINDOWS  # the timed phase is at least this many windows
    window_warmup: int = WINDOW_WARMUP  # untimed runs before every window after the first
    max_samples: int = MAX_SAMPLES

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.max_samples < 1:
            raise ValueError("warmup must be >= 0, min_runs and max_samples >= 1")
        if self.warmup_min_s < 0 or self.min_s < 0:
            raise ValueError("warmup_min_s and min_s must be >= 0")
        if self.max_s is not None and not self.max_s >= self.min_s:
            raise ValueError(f"max_s ({self.max_s:g}) must be >= min_s ({self.min_s:g})")
        if self.ci_target_pct is not None and not self.ci_target_pct > 0:
            raise ValueError("ci_target_pct must be > 0 (or None for no adaptive stopping)")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be in (0, 1)")
        if self.windows < 1 or self.window_warmup < 0:
            raise ValueError("windows must be >= 1 and window_warmup >= 0")

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> RunControl:
        """From a worker request: ``warmup``, ``warmup_min_s``, ``iterations`` (the minimum count),
        ``min_time_s``, ``max_time_s``, ``ci_target_pct`` (absent fields: the defaults). The
        windows are the agent's own policy (``DEFAULT_WINDOWS``), not a request field."""
        max_s = request.get("max_time_s")
        target = request.get("ci_target_pct")
        return cls(warmup=int(request.get("warmup") or 0),
                   warmup_min_s=float(request.get("warmup_min_s") or 0.0),
                   min_runs=int(request.get("iterations") or 1),
                   min_s=float(request.get("min_time_s") or 0.0),
                   max_s=None if max_s is None else float(max_s),
                   ci_target_pct=None if target is None else float(target))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Clock = Callable[[], int]
Interval = MedianCI | RerunInterval


@dataclass
class Stopper:
    """Decides when a window ends and when the timed phase stops; ``reason``, ``last_ci`` and
    ``windows`` say why and how. ``window_done()`` is a few comparisons; the interval is computed
    only when a window closes (``close_window()``), never between timed runs of a window.

    The caller's loop: ``start()``; per window ``open_window(n)``, time runs until
    ``window_done(samples)``, then ``close_window(samples)`` says whether to stop. ``done(samples)``
    composes the two for a caller that takes no untimed runs between windows."""

    control: RunControl
    clock: Clock = time.perf_counter_ns
    reason: str | None = None
    checks: int = 0
    last_ci: Interval | None = None
    windows: list[dict[str, Any]] = field(default_factory=list)
    _start: int = 0
    _w_index: int = 0
    _w_start: int = 0
    _w_runs: int = 1
    _w_ns: float = 0.0
    _open: bool = False
    _medians: list[float] = field(default_factory=list)  # the windows' medians, as they close
    _w_end: int = 0  # the sample index after the last closed window
    _m_mean: float = 0.0  # the running mean of ``_medians``
    _m_m2: float = 0.0  # and their running sum of squared deviations

    def start(self) -> None:
        """Mark the start of the timed phase."""
        self._start = self.clock()

    def elapsed_s(self) -> float:
        return (self.clock() - self._start) / 1e9

    def open_window(self, n_samples: int) -> None:
        """A window starts at sample index ``n_samples`` (now): its share of the minimums is what
        is left of them over the windows left (``windows`` at least), at least one run."""
        c = self.control
        done_windows = len(self.windows)
        left = max(1, c.windows - done_windows)
        runs_left = max(0, c.min_runs - n_samples)
        s_left = max(0.0, c.min_s - self.elapsed_s())
        if done_windows >= c.windows:  # an extra window (adaptive): the size of an average one
            runs_left, s_left = math.ceil(c.min_runs / c.windows), c.min_s / c.windows
        self._w_runs = max(1, math.ceil(runs_left / left))
        self._w_ns = s_left / left * 1e9
        self._w_index, self._w_start, self._open = n_samples, self.clock(), True

    def window_runs(self) -> int:
        """The runs this window needs at least (its share of ``min_runs``)."""
        return self._w_runs

    def window_done(self, samples: Sequence[int]) -> bool:  # a list or an array('q')
        """True when the open window should end now: its share of the minimums is met, or
        ``max_s`` / ``max_samples`` came (then ``reason`` says so and the phase stops)."""
        c = self.control
        now = self.clock()
        n = len(samples)
        if c.max_s is not None and now - self._start >= c.max_s * 1e9:
            self.reason = STOP_MAX_S
            return True
        if n >= c.max_samples:
            self.reason = STOP_MAX_SAMPLES
            return True
        return n - self._w_index >= self._w_runs and now - self._w_start >= self._w_ns

    def close_window(self, samples: Sequence[int]) -> bool:
        """Close the open window; True when the timed phase stops here."""
        c = self.control
        n = len(samples)
        if self._open and n > self._w_index:
            part = np.asarray(samples[self._w_index:n], dtype=np.float64)
            median = float(np.median(part))
            self.windows.append({"start_index": self._w_index, "n": n - self._w_index,
                                 "median_ns": median, "t_start_s": (self._w_start - self._start) / 1e9})
            self._medians.append(median)
            self._w_end = n
            delta = median - self._m_mean  # Welford: the medians' mean and spread, O(1) per window
            self._m_mean += delta / len(self._medians)
            self._m_m2 += delta * (median - self._m_mean)
        self._open = False
        if self.reason is not None:  # max_s or max_samples: the interval of what was taken
            self._check(samples)
            return True
        if len(self.windows) < c.windows or n < c.min_runs or self.elapsed_s() < c.min_s:
            return False
        if c.ci_target_pct is None:
            self.reason = STOP_MINIMUMS
            self._check(samples)
            return True
        self.checks += 1
        if not self._may_be_within(c.ci_target_pct):
            return False  # clearly not yet: the exact interval (a median of every sample) can wait
        self._check(samples)
        if self.last_ci is not None and self.last_ci.within(c.ci_target_pct):
            self.reason = STOP_CI
            return True
        return False

    def done(self, samples: Sequence[int]) -> bool:
        """After each timed run: True when the timed phase stops (windows back to back)."""
        if not self._open:
            self.open_window(len(samples))
        if not self.window_done(samples):
            return False
        if self.close_window(samples):
            return True
        self.open_window(len(samples))  # the next run is the next window's first
        return False

    def _may_be_within(self, target_pct: float) -> bool:
        """False when the interval is certainly wider than ``target_pct``: its half-width from the
        running spread of the window medians, against their mean as the centre, is more than
        ``PRECHECK_MARGIN`` times the target. The exact check takes the median of every sample
        (O(n) each window: with thousands of short windows that, not the model, took the time)."""
        w = len(self._medians)
        if w < 2 or self._m_mean <= 0:
            return True
        sd = math.sqrt(max(self._m_m2, 0.0) / (w - 1))
        half = t_quantile((1.0 + self.control.confidence) / 2.0, w - 1) * sd * math.sqrt(2.0 / w)
        return half / self._m_mean * 100.0 <= target_pct * PRECHECK_MARGIN

    def _check(self, samples: Sequence[int]) -> None:
        if len(self._medians) >= 2:  # windows back to back from the first: no median recomputed
            first = self.windows[0]["start_index"]
            used = np.asarray(samples[first:self._w_end], dtype=np.float64)
            self.last_ci = from_medians(self._medians, used, self.control.confidence)
        else:
            self.last_ci = interval(samples, self.bounds(), self.control.confidence)

    def bounds(self) -> list[tuple[int, int]]:
        return [(w["start_index"], w["n"]) for w in self.windows]

    def report(self) -> dict[str, Any]:
        """What the result carries: why it stopped, how many interval checks, the last interval
        (in ns), and the windows (``start_index``, ``n``, ``median_ns``, ``t_start_s``)."""
        target = self.control.ci_target_pct
        return {
            "stop_reason": self.reason,
            "ci_checks": self.checks,
            "ci_target_pct": target,
            "ci_target_met": None if target is None else bool(
                self.last_ci is not None and self.last_ci.within(target)),
            "last_ci": self.last_ci.to_json() if self.last_ci is not None else None,
            "ci_method": self.last_ci.method if self.last_ci is not None else None,
            "windows": self.windows,
        }


def interval(samples: Sequence[float] | np.ndarray, bounds: Sequence[tuple[int, int]],
             confidence: float = DEFAULT_CONFIDENCE) -> Interval | None:
    """The reported interval: a rerun's (``rerun_interval``) from 2 windows up, else the
    order-statistics CI of the median of all samples (``ONE_WINDOW``); None when neither exists."""
    found = rerun_interval(samples, bounds, confidence)
    return found if found is not None else median_ci(samples, confidence)


def warm_up(run: Callable[[], Any], control: RunControl, clock: Clock = time.perf_counter_ns
            ) -> tuple[int, float]:
    """Run ``run()`` at least ``control.warmup`` times and for at least ``warmup_min_s``;
    return (runs, seconds)."""
    start = clock()
    min_ns = control.warmup_min_s * 1e9
    count = 0
    while count < control.warmup or clock() - start < min_ns:
        run()
        count += 1
    return count, (clock() - start) / 1e9


def sure_runs(control: RunControl, warmup_runs: int, warmup_s: float, runs: int | None = None) -> int:
    """How many timed runs of a window are certain to be needed and to end well inside ``max_s``:
    the timed loop takes them back to back without asking ``Stopper.window_done()`` after each (its
    bookkeeping between samples, ~1 us of Python, left a trace in 30 us inferences: bench/README.md).
    That is ``runs`` (the window's share, ``Stopper.window_runs()``; default ``min_runs``), capped by
    ``max_samples``; with a ``max_s``, at most the runs that fit in half of it at the warm-up's pace
    (none without a warm-up to judge the pace by), so a run that slows down more than twofold after
    its warm-up can overrun ``max_s`` by the rest of that stretch."""
    runs = min(control.min_runs if runs is None else runs, control.max_samples)
    if control.max_s is None:
        return runs
    if warmup_runs <= 0 or warmup_s <= 0:
        return 0
    return max(0, min(runs, int(0.5 * control.max_s * warmup_runs / warmup_s)))
