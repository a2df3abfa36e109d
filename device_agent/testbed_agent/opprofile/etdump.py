"""ExecuTorch's ETDump: the runtime's event tracer, written by the worker, parsed on the host.

Python runtime: ``Runtime.load_program(path, enable_etdump=True)``, execute, then
``Program.write_etdump_result_to_file``. Native runner: ``et_runner --etdump`` (an
``ETDumpGen`` event tracer on the Module). Either way the bytes go back base64-encoded; the host
reads them with ``executorch.devtools.Inspector`` (torch is not on the board).
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SOURCE = "etdump"


def _record(data: bytes, runs: int, warmup: int, runner: str) -> dict[str, Any]:
    return {"source": SOURCE, "available": True, "reason": None, "runner": runner, "runs": runs,
            "warmup": warmup, "etdump_b64": base64.b64encode(data).decode("ascii")}


def profile_python(path: str, xs: Sequence[np.ndarray], runs: int, warmup: int) -> dict[str, Any]:
    """A second program loaded with ETDump on (the timed one carries no tracer)."""
    import torch
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(path, enable_etdump=True)
    method = program.load_method("forward")
    if method is None:
        raise ValueError("the program has no 'forward' method")
    tensors = [torch.from_numpy(np.asarray(x, order="C")) for x in xs]
    for _ in range(warmup + runs):
        method.execute(tensors)
    with tempfile.TemporaryDirectory(prefix="etdump-") as tmp:
        dump, debug = os.path.join(tmp, "run.etdp"), os.path.join(tmp, "debug.bin")
        program.write_etdump_result_to_file(dump, debug)
        data = Path(dump).read_bytes()
    return _record(data, runs, warmup, "python")


def profile_native(binary: Path, path: str, xs: Sequence[np.ndarray], threads: int | None, runs: int,
                   warmup: int) -> dict[str, Any]:
    """A separate et_runner invocation with ``--etdump`` (the timed invocation had none)."""
    from ..native import runner

    result = runner.run(binary, path, list(xs), warmup=warmup, iterations=runs, threads=threads,
                        etdump=True)
    if not result.etdump:
        raise ValueError("the native runner wrote an empty ETDump")
    return _record(result.etdump, runs, warmup + 1, "native")  # + the runner's first inference
