"""Background sampling of one sensor, with an idle (baseline) window and an active window.

A daemon thread reads the sensor every ``1 / rate_hz`` seconds on a fixed schedule (no drift;
when a read is slower than the period it skips ahead instead of bursting). Each sample is
stamped with ``time.perf_counter_ns`` at the midpoint of the read. ``begin(phase)`` and
``end(phase)`` take one extra reading synchronously, so each window starts and ends exactly on a
sample and the trapezoid needs no interpolation at its edges.

A sensor that raises stops the sampling; ``error`` holds the reason and ``summarize`` reports
power as missing with it. Nothing is filled in.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .base import Sensor
from .summary import Sample, summarize

__all__ = ["Sample", "Sampler", "summarize"]  # Sample and summarize live in .summary


class Sampler:
    """Sample ``sensor`` at ``rate_hz`` from ``start()`` to ``stop()``."""

    def __init__(self, sensor: Sensor, rate_hz: float = 20.0, *,
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if not 0 < rate_hz <= 1000:
            raise ValueError(f"rate_hz must be in (0, 1000], not {rate_hz}")
        self.sensor, self.rate_hz, self.clock = sensor, float(rate_hz), clock
        self.samples: list[Sample] = []
        self.windows: dict[str, list[int]] = {}
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> Sample | None:
        """Read the sensor once now; None (and ``error`` set) when it failed or had failed."""
        with self._lock:
            if self.error is not None:
                return None
            t0 = self.clock()
            try:
                r = self.sensor.read()
            except Exception as exc:  # SensorError or anything a driver raises: power is missing
                self.error = f"{self.sensor.name} failed after {len(self.samples)} samples: {exc}"
                return None
            t1 = self.clock()
            sample = Sample((t0 + t1) // 2, r.watts, r.energy_uj, r.counter_t_ns, r.estimated)
            self.samples.append(sample)
            return sample

    def _run(self) -> None:
        period_ns = int(1e9 / self.rate_hz)
        due = self.clock()
        while not self._stop.is_set() and self.take() is not None:
            due += period_ns
            delay_ns = due - self.clock()
            if delay_ns < 0:  # the read took longer than a period: skip ahead, don't burst
                due, delay_ns = self.clock(), 0
            self._stop.wait(delay_ns / 1e9)

    def start(self) -> None:
        """Start the sampling thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"power-{self.sensor.name}",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the sampling thread (the sensor stays open; its owner closes it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 3 / self.rate_hz))

    def _edge(self) -> int:
        sample = self.take()
        return sample.t_ns if sample is not None else self.clock()

    def begin(self, phase: str) -> None:
        """Open the window ``phase`` ("idle" or "active") with a synchronous reading."""
        self.windows[phase] = [self._edge()]

    def end(self, phase: str) -> None:
        """Close the window ``phase`` with a synchronous reading."""
        if phase not in self.windows:
            raise ValueError(f"window {phase!r} was never begun")
        self.windows[phase] = [self.windows[phase][0], self._edge()]

    @contextlib.contextmanager
    def window(self, phase: str) -> Iterator[None]:
        """``with sampler.window("active"): <timed loop>``."""
        self.begin(phase)
        try:
            yield
        finally:
            self.end(phase)

    def idle(self, window_s: float) -> None:
        """Sample an idle baseline for ``window_s`` seconds (the caller does nothing meanwhile)."""
        with self.window("idle"):
            time.sleep(window_s)

    def summarize(self, inferences: int,
                  idle_baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The power record for ``inferences`` inferences in the active window (see ``summary``);
        ``idle_baseline``: a cached idle baseline used instead of an idle window."""
        with self._lock:
            samples = list(self.samples)
        return summarize(samples, sensor=self.sensor.name, what=self.sensor.describe(),
                         windows=self.windows, inferences=inferences, rate_hz_requested=self.rate_hz,
                         cumulative=self.sensor.cumulative, estimated=self.sensor.estimated,
                         missing_reason=self.error, idle_baseline=idle_baseline)
