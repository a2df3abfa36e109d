"""ExecuTorch through our C++ runner (``native/et_runner.cpp``): no torch, no Python bindings.

The runner is compiled on the board against the executorch wheel's own ``lib/*.so`` and headers
the first time it is needed (``native.build``; cached per wheel version and source hash). The
probe says available only when a C++ compiler and the wheel's headers and libraries are there;
it never imports executorch (whose Python side needs torch).

Unlike the other runtimes, the timed loop runs inside the runner (``steady_clock`` per
``Module::forward()``), so the worker hands the whole measurement to ``measure()`` here and the
result says ``"runner": "native"``. Load, RSS and latency figures are the runner process's own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..schema import RunResult, TensorSpec, tensors_from_wire
from .base import Probe, Runtime, Session
from .registry import register

#: The runner's timing and what each sample covers, for the result's settings.
TIMING = ("std::chrono::steady_clock around each Module::forward() (set input + execute; outputs "
          "not copied), in the et_runner process")


def cache_dir(artifact_path: str | None) -> Path:
    """Where compiled runners live: ``$TESTBED_AGENT_NATIVE_CACHE``, else ``<store>/native`` when
    the artifact sits in an agent store (``<store>/artifacts/<sha>``), else ``~/.testbed-agent``."""
    from ..native import build

    if os.environ.get(build.CACHE_ENV):
        return Path(os.environ[build.CACHE_ENV])
    if artifact_path:
        parent = Path(artifact_path).resolve().parent
        if parent.name == "artifacts":
            return parent.parent / "native"
    return build.default_cache()


class NativeSession(Session):
    """One runner invocation per ``run()`` (slow: a process start and a model load per call).
    Exists for the Session contract; measurements go through ``ExecuTorchNative.measure``."""

    def __init__(self, binary: Path, path: str, threads: int | None) -> None:
        self._binary = binary
        self._path = path
        self.threads = threads
        self.settings = {"runner": "native", "binary": str(binary), "timing": TIMING}
        self.input_names = []  # not known before a run: the runner feeds the arrays in the order given

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        from ..native import runner

        return runner.run(self._binary, self._path, list(xs), threads=self.threads).outputs


@register
class ExecuTorchNative(Runtime):
    """ExecuTorch's C++ runtime from the wheel, driven by et_runner."""

    name = "executorch-native"
    formats = ("executorch",)
    settings_from = "executorch"  # stands in for executorch: reads its threads

    def __init__(self) -> None:
        self._binary: Path | None = None

    def probe(self) -> Probe:
        from ..native import build

        try:
            wheel, _ = build.check()
        except build.BuildError as exc:
            version = _dist_version()
            return Probe(False, version, str(exc))
        return Probe(True, wheel.version, None)

    def prepare(self, artifact_path: str | None = None) -> None:
        """Compile the runner (once per wheel and source; cached)."""
        from ..native import build

        if self._binary is None:
            self._binary = build.build(cache_dir(artifact_path))

    def load(self, path: str, threads: int | None) -> Session:
        self.prepare(path)
        assert self._binary is not None
        return NativeSession(self._binary, path, threads)

    def measure(self, request: dict[str, Any]) -> RunResult:
        """The whole measurement, timed inside the runner; the result has the worker's fields."""
        from ..arrays import load_inputs, npy_b64
        from ..native import runner
        from ..power import PowerMeter
        from ..stages import stage

        path = request["artifact_path"]
        threads: int | None = request.get("threads")
        warmup, iterations = int(request["warmup"]), int(request["iterations"])
        min_time_s = float(request.get("min_time_s") or 0.0)
        max_time_s = request.get("max_time_s")
        warmup_min_s = float(request.get("warmup_min_s") or 0.0)
        with stage("reading the inputs .npz"):  # fed by position: a .pte keeps no input names
            inputs = load_inputs(request["inputs_path"], tensors_from_wire(request.get("inputs"), "inputs"))
        timing, evals = inputs.timing, inputs.evals
        with stage("building the native ExecuTorch runner"):
            self.prepare(path)
        assert self._binary is not None
        meter = PowerMeter(request.get("power") or {"sensor": "none"})
        try:
            meter.start()
            with stage("the native runner"), meter.active():
                timed = runner.run(self._binary, path, timing, warmup=warmup, iterations=iterations,
                                   min_time_s=min_time_s, max_time_s=max_time_s,
                                   warmup_min_s=warmup_min_s, threads=threads)
            info = timed.info
            samples = [int(s) for s in info["samples_ns"]]
            power = meter.finish(inferences=1 + int(info.get("warmup_runs", warmup)) + len(samples))
        finally:
            meter.close()
        if not timed.outputs:
            raise ValueError("the model returned no outputs")
        result = RunResult(
            runtime=self.name, runtime_version=self.version(), runner="native", threads=threads,
            settings={
                "binary": str(self._binary),
                "method": info.get("method"),
                "load_mode": info.get("load_mode"),
                "threadpool_threads": info.get("threadpool_threads"),
                "threads_setting": f"applied {threads} with ThreadPool::_unsafe_reset_threadpool"
                if threads else "default (ExecuTorch's threadpool size)",
                "backends": info.get("backends"),
                "timing": TIMING,
                "rss": "of the et_runner process",
                "power_window": "the runner process: load, first inference, warm-up and timed "
                                "loop (energy per inference divides by all of those inferences)",
            },
            artifact_size_bytes=os.path.getsize(path),
            load_ms=info["load_ns"] / 1e6, first_inference_ms=info["first_ns"] / 1e6,
            warmup=warmup, iterations=iterations, min_time_s=min_time_s, samples_ns=samples,
            measurement={
                "control": {"warmup": warmup, "warmup_min_s": warmup_min_s, "min_runs": iterations,
                            "min_s": min_time_s, "max_s": max_time_s,
                            "ci_target_pct": request.get("ci_target_pct")},
                "warmup_runs": info.get("warmup_runs"), "warmup_s": info.get("warmup_ns", 0) / 1e9,
                "timed_s": info.get("loop_ns", 0) / 1e9, "stop_reason": info.get("stop_reason"),
                "adaptive": "not supported by the native runner: ci_target_pct is not applied "
                            "(fixed minimums and max_s only)"},
            power=power,
            baseline_rss_bytes=info.get("baseline_rss_bytes"),  # the runner, libraries loaded
            load_peak_rss_bytes=info.get("load_peak_rss_bytes"),
            inference_peak_rss_bytes=info.get("peak_rss_bytes"),
            peak_rss_bytes=info.get("peak_rss_bytes"),
            samples_buffer_bytes=8 * len(samples),  # the runner's std::vector<int64_t>
            memory_method="ru_maxrss of the et_runner process (peak so far, not per phase)",
            input_tensors=inputs.specs(),
            output_tensors=[TensorSpec.of(f"output_{i}", np.asarray(o))
                            for i, o in enumerate(timed.outputs)],
        )
        if request.get("return_outputs", True):
            result.timing_output_npy_b64 = npy_b64(timed.outputs[0])
            if evals is not None:
                with stage("the evaluation inferences (native runner)"):
                    evaluated = runner.run(self._binary, path, timing, threads=threads, evals=evals)
                assert evaluated.eval_outputs is not None
                result.outputs_npy_b64 = npy_b64(evaluated.eval_outputs)
                result.peak_rss_bytes = max(int(result.peak_rss_bytes or 0),
                                            int(evaluated.info.get("peak_rss_bytes") or 0))
        if request.get("profile_ops"):
            from ..opprofile import collect_native

            result.ops = collect_native(self._binary, path, timing, threads)
        return result


def _dist_version() -> str | None:
    from .base import dist_version

    return dist_version("executorch")
