"""Per-op profiles, taken in the worker as a separate pass AFTER the timed runs.

Profiling slows a runtime down (ONNX Runtime writes a trace event per node, ExecuTorch's event
tracer timestamps every instruction), so it never runs during the timed loop: each collector
loads its own profiling session (or program), runs ``PROFILE_WARMUP`` unrecorded-for-the-host
inferences and ``PROFILE_RUNS`` profiled ones, and returns a JSON-ready dict. Each runtime plug-in
picks its collector (``Runtime.collect_ops``); ``Runtime.profile_ops`` never raises: a runtime that
cannot profile returns ``{"available": false, "reason": ...}``.

What comes back, by ``source``:

* ``onnxruntime-profiler``: already parsed here (plain JSON): ``ops`` [{name, op_type, calls,
  total_us, provider}] over the profiled runs and ``e2e_us`` (each run's ``model_run``).
* ``etdump``: the raw ETDump (``etdump_b64``); the host parses it with
  ``executorch.devtools.Inspector`` (which needs torch, so never on the board).
* ``none``: LiteRT (its Python API exposes no profiler), and any runtime without a profiler.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import first_line

PROFILE_WARMUP = 3
PROFILE_RUNS = 20


def unavailable(source: str, reason: str) -> dict[str, Any]:
    """The record of a profile that could not be taken."""
    return {"source": source, "available": False, "reason": reason}


def collect_native(binary: Path, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None,
                   runs: int = PROFILE_RUNS, warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
    """The ETDump of a separate et_runner invocation (executorch-native)."""
    try:
        from .etdump import profile_native

        return profile_native(binary, artifact_path, xs, threads, runs, warmup)
    except Exception as exc:
        return unavailable("etdump", f"profiling failed: {first_line(exc)}")

