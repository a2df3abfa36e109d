"""The timed part of a measurement, for ``measure``: the call the loop times, the timed loop itself (GC
off, the power meter's active window around it, ``stopping`` deciding when to stop), one timed
inference, and the clock that charges the worker's time to its phases.

``phases_s`` says where the worker's time went (monotonic clock): ``worker_imports`` (the
worker's own imports before measuring: ~0 when forked), ``setup`` (run control, isolation,
inputs), ``runtime_import``, ``load``, ``first_inference``, ``power_idle`` (the idle window; 0
when none was taken or a cached baseline was used), ``warmup``, ``measure`` (the timed runs),
``power_summary``, ``eval`` (the evaluation inferences), ``profile_ops``, ``result`` (building
the result).
"""

from __future__ import annotations

import array
import gc
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .power import PowerMeter
from .runtimes.base import Session
from .stopping import RunControl, Stopper, sure_runs, warm_up


class PhaseClock:
    """Seconds per phase: ``lap(name)`` charges the time since the previous lap to ``name``."""

    def __init__(self, start_ns: int | None = None) -> None:
        self.phases: dict[str, float] = {}
        self._last = start_ns if start_ns is not None else time.monotonic_ns()

    def lap(self, name: str) -> None:
        now = time.monotonic_ns()
        self.phases[name] = self.phases.get(name, 0.0) + (now - self._last) / 1e9
        self._last = now


def _timed(session: Session, xs: Sequence[np.ndarray]) -> tuple[int, list[np.ndarray]]:
    """One inference: (nanoseconds, outputs)."""
    start = time.perf_counter_ns()
    outputs = session.run(xs)
    return time.perf_counter_ns() - start, outputs


def _runner(session: Session, timing: list[np.ndarray], noise: dict[str, Any] | None
            ) -> Callable[[], Any]:
    """The call the loops time: ``session.bind(timing)`` (the runtime's own call, bound once);
    with the test-only ``debug_noise``, a seeded random sleep of up to ``max_sleep_s`` inside
    ``fraction`` of the calls."""
    if not noise:
        return session.bind(timing)
    rng = random.Random(noise.get("seed", 0))
    fraction, max_sleep_s = float(noise["fraction"]), float(noise["max_sleep_s"])

    def noisy() -> Any:
        outputs = session.run(timing)
        if rng.random() < fraction:
            time.sleep(rng.uniform(0.0, max_sleep_s))
        return outputs

    return noisy


def _timed_loop(run: Callable[[], Any], control: RunControl, meter: PowerMeter) -> dict[str, Any]:
    """Warm up, then time ``run()`` in windows until ``control`` says stop (see ``stopping``). In
    each window: ``window_warmup`` untimed runs (not in the first), the runs sure to be needed back
    to back (``sure_runs``), then asking the Stopper after each run whether the window is done; the
    Stopper's bookkeeping (a window's median, the interval) happens between windows, outside any
    timed call. GC is off while timing. The power meter's active window is the timed phase (the
    windows' re-warm-up runs included: they run at the same pace)."""
    samples = array.array("q")
    stopper = Stopper(control)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        warmup_runs, warmup_s = warm_up(run, control)
        with meter.active():
            window_start = time.monotonic_ns()
            stopper.start()
            clock = time.perf_counter_ns  # a local: no lookups inside the timed region
            append = samples.append
            rewarm = 0
            while True:
                for _ in range(rewarm):
                    run()
                stopper.open_window(len(samples))
                for _ in range(sure_runs(control, warmup_runs, warmup_s, stopper.window_runs())):
                    start = clock()
                    run()
                    append(clock() - start)
                while not stopper.window_done(samples):
                    start = clock()
                    run()
                    append(clock() - start)
                if stopper.close_window(samples):
                    break
                rewarm = control.window_warmup
            timed_s = stopper.elapsed_s()
            window_end = time.monotonic_ns()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"samples": samples, "control": control.to_json(), "warmup_runs": warmup_runs,
            "warmup_s": warmup_s, "timed_s": timed_s,
            "timed_window_monotonic_ns": [window_start, window_end], **stopper.report()}


def _split_loop(clock: PhaseClock, timed: dict[str, Any]) -> None:
    """Split the timed loop's lap into ``warmup`` and ``measure`` (the rest: ``measure`` too)."""
    loop = clock.phases.pop("timed_loop", 0.0)
    warmup = min(float(timed.get("warmup_s") or 0.0), loop)
    clock.phases["warmup"] = warmup
    clock.phases["measure"] = loop - warmup

