"""The measurement itself, as run inside the worker subprocess (never in the HTTP server).

Steps, each timed with ``time.perf_counter_ns``:

1. isolation: CPU affinity and the memory limit (``limits``), before the runtime is imported;
2. read the inputs (one array per model input, checked against the request's ``inputs``; fed to
   the runtime by name, or by position where the format keeps no names); record the RSS of the
   empty worker; import and configure the runtime; record the baseline RSS (runtime imported, no
   model);
3. load the model (peak RSS of the load phase), run a first inference;
4. warm up and take raw timed samples under ``stopping.RunControl`` (minimum count and seconds,
   maximum seconds, in windows; adaptive stop on the interval from the window medians; the
   result's ``measurement.windows`` gives each window's start index, count, median and start time),
   with the power meter around them;
5. when asked, run every evaluation sample batch-1 and return the outputs (peak RSS of the
   inference phase covers 3's first inference, 4 and 5).

Statistics are the host's job: the result carries the raw samples and raw memory figures.

Where it lives: this module runs the steps (isolation, inputs, load, the result); ``timing`` holds the
timed loop, the call it times and the phase clock (``phases_s``); ``memory`` the RSS figures
(``PhasePeaks``: why ``VmHWM``, not ``ru_maxrss``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from . import stages
from .arrays import Inputs, load_inputs, npy_b64
from .limits import apply_cpu_affinity, apply_memory_limit
from .memory import PhasePeaks, rss_bytes
from .peak import for_request
from .power import PowerMeter
from .runtimes import get as get_runtime
from .runtimes.base import Session
from .schema import RunResult, TensorSpec, tensors_from_wire
from .stages import StageError, stage
from .stopping import RunControl
from .timing import PhaseClock, _runner, _split_loop, _timed, _timed_loop

__all__ = ["StageError", "load_inputs", "measure", "npy_b64", "stage"]  # the helpers' old home keeps them


def _first_output(outputs: list[np.ndarray]) -> np.ndarray:
    if not outputs:
        raise ValueError("the model returned no outputs")
    return np.asarray(outputs[0])


def _isolate(request: dict[str, Any]) -> dict[str, Any]:
    """Apply CPU affinity and the memory limit (before any runtime import); their settings."""
    with stage("applying cpu_affinity"):
        applied = apply_cpu_affinity(request.get("cpu_affinity"))
    with stage("applying memory_limit_mb"):
        applied.update(apply_memory_limit(request.get("memory_limit_mb")))
    stages.memory_limit_mb = request.get("memory_limit_mb")
    return applied


def measure(request: dict[str, Any], worker: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one measurement described by the worker request; return the result JSON. ``worker``:
    how this worker started (``worker.main``); a forked one has the runtime imported already."""
    worker = worker or {}
    clock = PhaseClock()
    if worker.get("entered_monotonic_ns"):
        clock.phases["worker_imports"] = max(
            0.0, (clock._last - int(worker["entered_monotonic_ns"])) / 1e9)
    runtime = get_runtime(request["runtime"])
    threads: int | None = request.get("threads")
    with stage("reading the run control"):
        control = RunControl.from_request(request)
    isolation = _isolate(request)
    with stage("measuring the board's peak (roofline)"):
        peak = for_request(request)  # None unless asked; cached per board and CPU setting
    clock.lap("peak")
    if hasattr(runtime, "measure"):  # times itself in native code (executorch-native)
        native: RunResult = runtime.measure(request)
        native.settings.update(isolation)
        native.peak = peak
        clock.lap("native_runner")
        native.phases_s = clock.phases
        return native.to_wire()
    specs = tensors_from_wire(request.get("inputs"), "inputs")
    with stage("reading the inputs .npz"):
        inputs = load_inputs(request["inputs_path"], specs)
    peaks = PhasePeaks()  # resets the high-water mark: nothing before this point counts
    empty = rss_bytes()
    clock.lap("setup")
    with stage(f"importing {runtime.name}"):
        runtime.prepare()
    with stage(f"applying the {runtime.name} runtime_settings"):
        runtime.configure(request.get("runtime_settings"))
    baseline = rss_bytes()  # in this process, after the fork when forked, before any model
    if worker.get("server_empty_rss_bytes"):  # forked with the runtime imported: the server's figure
        empty = int(worker["server_empty_rss_bytes"])
    if request.get("debug_sleep_s"):  # test-only: the agent forwards it only with ALLOW_DEBUG
        time.sleep(float(request["debug_sleep_s"]))
    clock.lap("runtime_import")
    peaks.start()
    with stage(f"loading the {runtime.name} model"):
        start = time.perf_counter_ns()
        session = runtime.load(request["artifact_path"], threads)
        load_ns = time.perf_counter_ns() - start
    with stage("matching the inputs to the model's"):
        order = inputs.ordered(session.input_names)
        casts = inputs.conform(session.input_dtypes, order)
        timing = [inputs.timing[i] for i in order]
    load_peak = peaks.end()
    clock.lap("load")
    _debug_crash(request.get("debug_crash"))  # test-only, like debug_sleep_s
    peaks.start()
    with stage("the first inference"):
        first_ns, first_outputs = _timed(session, timing)
        timing_output = _first_output(first_outputs)
    clock.lap("first_inference")
    meter = PowerMeter(request.get("power") or {"sensor": "none"},
                       idle_baseline=request.get("idle_baseline"))
    try:
        meter.start()  # idle baseline (unless a cached one holds) before the timed phase
        clock.lap("power_idle")
        with stage("the timed inferences"):
            timed = _timed_loop(_runner(session, timing, request.get("debug_noise")), control, meter)
        clock.lap("timed_loop")
        samples = timed.pop("samples")  # array('q'): 8 bytes a sample, a list only at the end
        power = meter.finish(inferences=len(samples))
    finally:
        meter.close()
    _split_loop(clock, timed)
    clock.lap("power_summary")
    result = RunResult(
        runtime=runtime.name, runtime_version=runtime.version(), runner="python",
        threads=session.threads,
        settings={**session.settings, **isolation, "gc_disabled_while_timing": True,
                  **({"input_casts": casts} if casts else {}),
                  # the artifact takes its inputs in another order than the request lists them (a
                  # signature sorted by name): they are fed by name, and the record says so
                  **({"input_order": list(session.input_names)} if order != sorted(order) else {})},
        artifact_size_bytes=os.path.getsize(request["artifact_path"]),
        load_ms=load_ns / 1e6, first_inference_ms=first_ns / 1e6, warmup=control.warmup,
        iterations=control.min_runs, min_time_s=control.min_s, measurement=timed, power=power,
        samples_ns=[], empty_rss_bytes=empty, baseline_rss_bytes=baseline,
        load_peak_rss_bytes=load_peak, inference_peak_rss_bytes=None, peak_rss_bytes=None,
        samples_buffer_bytes=0, memory_method=peaks.method,
        input_tensors=inputs.specs(),
        output_tensors=[TensorSpec.of(f"output_{i}", np.asarray(o))
                        for i, o in enumerate(first_outputs)])
    if request.get("return_outputs", True):
        result.timing_output_npy_b64 = npy_b64(timing_output)
        if inputs.evals is not None:
            with stage("the evaluation inferences"):
                per_output = _eval_outputs(session, inputs, order)
                result.outputs_npy_b64 = npy_b64(per_output[0])
                result.eval_outputs_npy_b64 = [npy_b64(o) for o in per_output]
    result.inference_peak_rss_bytes = peaks.end()
    result.peak_rss_bytes = peaks.lifetime
    result.memory_method = peaks.method
    clock.lap("eval")
    # The inference peak includes the sample buffer; the host takes it out of the model's memory.
    result.samples_buffer_bytes = samples.buffer_info()[1] * samples.itemsize
    result.samples_ns = samples.tolist()
    if request.get("profile_ops"):  # a separate pass, after the timed runs and memory figures
        result.ops = runtime.profile_ops(request["artifact_path"], timing, threads, session)
        clock.lap("profile_ops")
    clock.lap("result")
    result.phases_s = clock.phases
    result.peak = peak
    return result.to_wire()


def _debug_crash(kind: str | None) -> None:
    """Test-only: die like a broken native runtime would (a real SIGSEGV, or abort())."""
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif kind == "abort":
        os.abort()


def _eval_outputs(session: Session, inputs: Inputs, order: list[int]) -> list[np.ndarray]:
    """Each sample batch-1; every output flattened per sample, as float32 ``[N, K]`` per output."""
    per_output: list[list[np.ndarray]] = []
    for i in range(inputs.n_eval):
        sample = inputs.eval_sample(i)
        outputs = session.run([sample[j] for j in order])
        if not outputs:
            raise ValueError("the model returned no outputs")
        if not per_output:
            per_output = [[] for _ in outputs]
        for rows, out in zip(per_output, outputs, strict=True):
            rows.append(np.asarray(out).astype(np.float32).reshape(-1))
    if not per_output:
        return [np.zeros((0, 0), dtype=np.float32)]
    return [np.stack(rows) for rows in per_output]
