"""The interval a rerun's median is expected to fall into, from the medians of W timing windows.

numpy only: it runs on the board inside the worker (adaptive stopping) and on the host (the record),
one implementation for both, like ``stopping.median_ci``.

**Why windows.** The order-statistics CI of the median (``stopping.median_ci``) treats the n samples
of one timed stretch as independent draws of one distribution. They are not: the median moves between
stretches of time (frequency, other load, caches, drift), so that interval describes the stretch, not
the board, and a rerun's median lands outside it far more often than 5 % of the time (bench/README.md,
"Does the interval cover a rerun?"). The timed phase is therefore split into W windows (each after a
short re-warm-up), and the interval is built from the W window medians m_1..m_W, the unit that
carries both the within-window noise and the between-window drift.

**The statistic.** Model m_w = mu + e_w with e_w independent, mean 0, variance sigma^2 (within- and
between-window variation together). A rerun with W' windows has window-median mean m' with
variance sigma^2 / W'. With mbar and s the mean and sample standard deviation of the W medians,
(m' - mbar) / (s sqrt(1/W + 1/W')) follows Student's t with W - 1 degrees of freedom when the e_w are
normal, so

    mbar ± t_{W-1, (1+c)/2} · s · sqrt(1/W + 1/W')

is the ``c`` **prediction interval** for the rerun's mean window median (W' = W: a rerun taken the
same way). It is sqrt(2) wider than the confidence interval of mu (sqrt(1/W) alone): a rerun has
its own noise. What is reported and compared is p50, the median of all samples, which sits close to
the mean window median; the interval is centred on p50 (± the half-width above), so an offset
between the two (a skewed distribution) is the same in this run and in the rerun and cancels. The
coverage is checked empirically in ``bench/coverage.py``. Assumptions, said plainly:
windows of one run vary like windows of another (a fresh process, a fresh memory layout, a cooler or
hotter board may add variation one run cannot see), and the window medians are roughly normal (the
t-interval is robust to mild skew; a single disturbed window widens the interval, honestly).

Below 2 windows there is no spread to estimate: the caller falls back to the order-statistics CI of
one window and says so (``ci_method``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

METHOD = "prediction interval of a rerun's median (Student t on the window medians)"
#: The same interval with fresh workers as the units (a deploy's or a plan's ``repeats``: each repeat
#: its own process, memory layout and speed; the host's ``stats.repeats_latency``).
METHOD_WORKERS = "prediction interval of a rerun's median (Student t on the medians of fresh workers)"
ONE_WINDOW = "one window (order statistics)"


#: Above this many degrees of freedom ``t_quantile`` uses the Cornish-Fisher expansion (error < 1e-6).
EXPANSION_DF = 60


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (p in (0.5, 1)).

    Up to ``EXPANSION_DF``: the CDF by integrating the density on a grid (uniform to 10, then
    geometric to 1e7; trapezoids), inverted by interpolation: accurate to ~1e-5 relative for the
    quantiles used here, numpy only, ~1 ms (it runs as a window closes, once per new window count;
    cached). Above it, the Cornish-Fisher expansion around the normal quantile (three terms,
    Abramowitz & Stegun 26.7.5): microseconds, so a run of thousands of short windows is not slowed
    by its own bookkeeping.
    """
    if not 0.5 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")
    if df > EXPANSION_DF:
        z = normal_quantile(p)
        return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))
    x = np.concatenate([np.linspace(0.0, 10.0, 20_001), np.geomspace(10.0, 1e7, 8_001)[1:]])
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
    cdf = 0.5 + np.concatenate(([0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))))
    if p >= cdf[-1]:
        raise ValueError(f"t_quantile: p={p} is beyond this grid for df={df}")
    return float(np.interp(p, cdf, x))


@functools.lru_cache(maxsize=64)
def normal_quantile(p: float) -> float:
    """The ``p`` quantile of the standard normal (p in (0.5, 1)), by bisection on ``math.erf``."""
    low, high = 0.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@dataclass(frozen=True)
class RerunInterval:
    """Where a rerun's median is expected to fall (``confidence``), from W window medians."""

    n: int  # samples in all windows
    median: float  # the median of all samples (the reported p50)
    low: float
    high: float
    windows: int  # W
    center: float  # the mean of the window medians (the interval is centred on ``median``)
    sd: float  # their sample standard deviation
    t: float  # t_{W-1, (1 + confidence) / 2}
    confidence: float
    method: str = METHOD

    @property
    def half_width_pct(self) -> float:
        """The larger distance from the median to a bound, as % of the median (the "±" figure)."""
        if self.median == 0:
            return math.inf if self.high > self.low else 0.0
        return max(self.median - self.low, self.high - self.median) / abs(self.median) * 100.0

    def within(self, target_pct: float) -> bool:
        return self.half_width_pct <= target_pct

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "half_width_pct": self.half_width_pct}


def window_medians(samples: Sequence[float] | np.ndarray, bounds: Sequence[tuple[int, int]]) -> np.ndarray:
    """The median of each window ``(start_index, n)`` of ``samples``; a bound outside them is an error."""
    values = np.asarray(samples, dtype=np.float64).ravel()
    out = []
    for start, n in bounds:
        if n < 1 or start < 0 or start + n > values.size:
            raise ValueError(f"window (start_index {start}, n {n}) is outside the {values.size} samples")
        out.append(float(np.median(values[start:start + n])))
    return np.asarray(out)


def rerun_interval(samples: Sequence[float] | np.ndarray, bounds: Sequence[tuple[int, int]],
                   confidence: float, rerun_windows: int | None = None) -> RerunInterval | None:
    """The prediction interval of a rerun's median from the windows ``bounds`` of ``samples``
    (see the module docstring); None below 2 windows. ``rerun_windows``: W' (default W)."""
    medians = window_medians(samples, bounds)  # checks the bounds, even of one window
    if medians.size < 2:
        return None
    values = np.asarray(samples, dtype=np.float64).ravel()
    used = np.concatenate([values[s:s + n] for s, n in bounds])
    return from_medians(medians, used, confidence, rerun_windows)


def from_medians(medians: Sequence[float] | np.ndarray, used: np.ndarray, confidence: float,
                 rerun_windows: int | None = None, method: str = METHOD) -> RerunInterval | None:
    """``rerun_interval`` from the window medians and all the windows' samples (``used``), for a
    caller that keeps each median as its window closes (the Stopper): a check is then a few vector
    operations, not a median per window again; None below 2 windows. The units may be fresh workers
    instead of windows (``METHOD_WORKERS``): the same statistic one level up."""
    medians = np.asarray(medians, dtype=np.float64)
    if medians.size < 2:
        return None
    w = medians.size
    center, sd = float(medians.mean()), float(medians.std(ddof=1))
    t = t_quantile((1.0 + confidence) / 2.0, w - 1)
    half = t * sd * math.sqrt(1.0 / w + 1.0 / (rerun_windows or w))
    median = float(np.median(used))
    return RerunInterval(n=int(used.size), median=median, low=median - half, high=median + half,
                         windows=w, center=center, sd=sd, t=t, confidence=confidence, method=method)
