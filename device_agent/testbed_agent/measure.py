"""The measurement itself, as run inside the worker subprocess (never in the HTTP server).

Steps, each timed with ``time.perf_counter_ns``: import the runtime, record the baseline RSS,
load the model, run a first inference, warm up, take ``iterations`` raw samples, then (when
asked) run every evaluation sample batch-1 and return the outputs. Statistics are the host's job.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import os
import resource
import sys
import time
from typing import Any, Iterator

import numpy as np
import psutil

from .errors import first_line
from .power import PowerMeter
from .runtimes import get as get_runtime
from .runtimes.base import Session


class StageError(Exception):
    """A measurement step failed; ``str()`` names the step and the runtime's own message."""


@contextlib.contextmanager
def stage(what: str) -> Iterator[None]:
    """Turn any exception raised inside into a one-line StageError naming ``what``."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:  # the runtimes raise anything: RuntimeError, ValueError, ...
        raise StageError(f"{what} failed: {first_line(exc)}") from exc


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """Peak resident set size so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def npy_b64(array: np.ndarray) -> str:
    """base64 of ``np.save`` bytes, the form arrays travel in inside JSON."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def load_inputs(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``timing`` array and the optional ``eval`` array of an inputs .npz."""
    with np.load(path, allow_pickle=False) as npz:
        if "timing" not in npz.files:
            raise ValueError(f"the inputs .npz has no 'timing' array (keys: {npz.files})")
        timing = np.ascontiguousarray(npz["timing"])
        evals = np.ascontiguousarray(npz["eval"]) if "eval" in npz.files else None
    if evals is not None and evals.ndim < 1:
        raise ValueError("the inputs .npz 'eval' array must be [N, ...] samples")
    return timing, evals


def _timed(session: Session, x: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """One inference: (nanoseconds, outputs)."""
    start = time.perf_counter_ns()
    outputs = session.run(x)
    return time.perf_counter_ns() - start, outputs


def _first_output(outputs: list[np.ndarray]) -> np.ndarray:
    if not outputs:
        raise ValueError("the model returned no outputs")
    return np.asarray(outputs[0])


def measure(request: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement described by the worker request; return the result JSON."""
    runtime = get_runtime(request["runtime"])
    threads: int | None = request.get("threads")
    warmup, iterations = int(request["warmup"]), int(request["iterations"])
    with stage("reading the inputs .npz"):
        timing, evals = load_inputs(request["inputs_path"])
    with stage(f"importing {runtime.name}"):
        runtime.prepare()
    baseline = rss_bytes()
    if request.get("debug_sleep_s"):  # test-only: the agent forwards it only with ALLOW_DEBUG
        time.sleep(float(request["debug_sleep_s"]))
    with stage(f"loading the {runtime.name} model"):
        start = time.perf_counter_ns()
        session = runtime.load(request["artifact_path"], threads)
        load_ns = time.perf_counter_ns() - start
    load_peak = peak_rss_bytes()
    with stage("the first inference"):
        first_ns, first_outputs = _timed(session, timing)
        timing_output = _first_output(first_outputs)
    meter = PowerMeter(request.get("power") or {"sensor": "none"})
    try:
        meter.start()  # idle baseline before any inference of the timed phase
        with stage("the timed inferences"):
            samples = _timed_loop(session, timing, warmup, iterations,
                                  float(request.get("min_time_s") or 0.0), meter)
        power = meter.finish(inferences=len(samples))
    finally:
        meter.close()
    result: dict[str, Any] = {
        "runtime": runtime.name,
        "runtime_version": runtime.version(),
        "runner": "python",
        "threads": session.threads,
        "settings": {**session.settings, "gc_disabled_while_timing": True},
        "artifact_size_bytes": os.path.getsize(request["artifact_path"]),
        "load_ms": load_ns / 1e6,
        "first_inference_ms": first_ns / 1e6,
        "warmup": warmup,
        "iterations": iterations,
        "min_time_s": float(request.get("min_time_s") or 0.0),
        "samples_ns": samples,
        "power": power,
        "baseline_rss_bytes": baseline,
        "load_peak_rss_bytes": load_peak,
    }
    if request.get("return_outputs", True):
        result["timing_output_npy_b64"] = npy_b64(timing_output)
        if evals is not None:
            with stage("the evaluation inferences"):
                result["outputs_npy_b64"] = npy_b64(_eval_outputs(session, evals))
    result["peak_rss_bytes"] = peak_rss_bytes()
    return result


def _timed_loop(session: Session, timing: np.ndarray, warmup: int, iterations: int,
                min_time_s: float, meter: PowerMeter) -> list[int]:
    """Warm up, then time inferences until ``iterations`` are done and ``min_time_s`` has passed
    (a power sensor needs a long enough active window). GC is off while timing."""
    samples: list[int] = []
    min_ns = int(min_time_s * 1e9)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(warmup):
            session.run(timing)
        with meter.active():
            start = time.perf_counter_ns()
            while len(samples) < iterations or time.perf_counter_ns() - start < min_ns:
                samples.append(_timed(session, timing)[0])
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _eval_outputs(session: Session, evals: np.ndarray) -> np.ndarray:
    """Each sample batch-1; the first output flattened per sample, as float32 [N, K]."""
    rows = [_first_output(session.run(evals[i:i + 1])).astype(np.float32).reshape(-1)
            for i in range(evals.shape[0])]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows)

