"""Per-op profiles, taken in the worker as a separate pass AFTER the timed runs.

Profiling slows a runtime down (ONNX Runtime writes a trace event per node, ExecuTorch's event
tracer timestamps every instruction), so it never runs during the timed loop: each collector
loads its own profiling session (or program), runs ``PROFILE_WARMUP`` unrecorded-for-the-host
inferences and ``PROFILE_RUNS`` profiled ones, and returns a JSON-ready dict. Collectors never
raise: a runtime that cannot profile returns ``{"available": false, "reason": ...}``.

What comes back, by ``source``:

* ``onnxruntime-profiler``: already parsed here (plain JSON): ``ops`` [{name, op_type, calls,
  total_us, provider}] over the profiled runs and ``e2e_us`` (each run's ``model_run``).
* ``etdump``: the raw ETDump (``etdump_b64``); the host parses it with
  ``executorch.devtools.Inspector`` (which needs torch, so never on the board).
* ``none``: LiteRT - its Python API exposes no profiler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import first_line

PROFILE_WARMUP = 3
PROFILE_RUNS = 20
LITERT_REASON = ("per-op profiling is not exposed by the LiteRT Python API (the Interpreter has no "
                 "profiler hook: only experimental_force_delegate_node_profiling, with no way to "
                 "attach a profiler or read its data); use LiteRT's benchmark_model "
                 "--enable_op_profiling on the board")


def unavailable(source: str, reason: str) -> dict[str, Any]:
    """The record of a profile that could not be taken."""
    return {"source": source, "available": False, "reason": reason}


def collect(runtime: str, artifact_path: str, x: np.ndarray, threads: int | None,
            session: Any = None, runs: int = PROFILE_RUNS,
            warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
    """The per-op profile of ``artifact_path`` under ``runtime`` (python runners); ``session`` is
    the timed session, whose options the profiling session copies where the runtime allows."""
    try:
        if runtime == "onnxruntime":
            from .ort import profile as ort_profile

            return ort_profile(artifact_path, x, threads, runs, warmup,
                               getattr(session, "_session", None))
        if runtime == "executorch":
            from .etdump import profile_python

            return profile_python(artifact_path, x, runs, warmup)
        if runtime == "litert":
            return unavailable("none", LITERT_REASON)
        return unavailable("none", f"no per-op profiler for runtime {runtime}")
    except Exception as exc:  # a profile is extra: never fail the measured run for it
        return unavailable(_source(runtime), f"profiling failed: {first_line(exc)}")


def collect_native(binary: Path, artifact_path: str, x: np.ndarray, threads: int | None,
                   runs: int = PROFILE_RUNS, warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
    """The ETDump of a separate et_runner invocation (executorch-native)."""
    try:
        from .etdump import profile_native

        return profile_native(binary, artifact_path, x, threads, runs, warmup)
    except Exception as exc:
        return unavailable("etdump", f"profiling failed: {first_line(exc)}")


def _source(runtime: str) -> str:
    return {"onnxruntime": "onnxruntime-profiler", "executorch": "etdump"}.get(runtime, "none")
