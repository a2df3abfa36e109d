"""Invoke the compiled ``et_runner``: write the input as raw bytes, run it, read JSON and outputs.

Standard library and numpy only (no torch, no executorch import).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: numpy dtypes the runner accepts as input, by its --input-dtype name.
INPUT_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64}


class RunnerError(Exception):
    """The runner failed; ``str()`` is its own one-line reason."""


@dataclass
class RunnerResult:
    """What one runner invocation reported (``info``) and wrote (outputs, eval outputs, etdump)."""

    info: dict[str, Any]
    outputs: list[np.ndarray]
    eval_outputs: np.ndarray | None
    etdump: bytes | None
    stderr: str


def _dtype_name(x: np.ndarray) -> str:
    for name, dtype in INPUT_DTYPES.items():
        if x.dtype == dtype:
            return name
    raise RunnerError(f"the native runner takes float32, int32 or int64 input, not {x.dtype}")


def run(binary: Path, model: str, x: np.ndarray, *, warmup: int = 0, iterations: int = 1,
        min_time_s: float = 0.0, max_time_s: float | None = None, warmup_min_s: float = 0.0,
        threads: int | None = None, evals: np.ndarray | None = None,
        etdump: bool = False, timeout_s: float | None = None,
        workdir: str | None = None) -> RunnerResult:
    """Run ``model`` on the batch-1 input ``x`` through the runner; raise RunnerError on failure.

    ``evals`` [N, ...]: each sample is run batch-1 after the timed loop and output 0 of each
    comes back as float32 [N, K]. ``etdump``: attach an ETDump event tracer and return its bytes
    (a profiling pass: never combine it with latency you mean to report).
    """
    x = np.ascontiguousarray(x)
    dtype = _dtype_name(x)
    with tempfile.TemporaryDirectory(prefix="et-runner-", dir=workdir) as tmp:
        folder = Path(tmp)
        x.tofile(folder / "input.bin")
        cmd = [str(binary), "--model", model, "--input", str(folder / "input.bin"),
               "--input-dtype", dtype, "--input-shape", ",".join(str(int(d)) for d in x.shape),
               "--warmup", str(warmup), "--iterations", str(iterations),
               "--min-time-ms", repr(float(min_time_s) * 1e3),
               "--warmup-min-ms", repr(float(warmup_min_s) * 1e3),
               "--max-time-ms", repr(float(max_time_s or 0.0) * 1e3),
               "--output", str(folder / "out.bin")]
        if threads:
            cmd += ["--threads", str(threads)]
        if evals is not None and len(evals):
            evals = np.ascontiguousarray(evals, dtype=x.dtype)
            if evals.shape[1:] != x.shape[1:]:
                raise RunnerError(f"eval samples {evals.shape[1:]} do not match the input {x.shape[1:]}")
            evals.tofile(folder / "eval.bin")
            cmd += ["--eval", str(folder / "eval.bin"), "--eval-count", str(len(evals)),
                    "--eval-output", str(folder / "eval_out.bin")]
        if etdump:
            cmd += ["--etdump", str(folder / "dump.etdp")]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise RunnerError(f"the native runner did not finish within {timeout_s:g} s") from exc
        stderr = proc.stderr.decode(errors="replace")
        info = _parse(proc.stdout.decode(errors="replace"))
        if "error" in info or proc.returncode != 0:
            reason = info.get("error") or _last_line(stderr) or "(no output)"
            raise RunnerError(f"the native runner failed (exit status {proc.returncode}): {reason}")
        flat = np.fromfile(folder / "out.bin", dtype=np.float32)
        outputs, offset = [], 0
        for meta in info.get("outputs", []):
            shape = tuple(int(d) for d in meta["shape"])
            size = int(np.prod(shape, dtype=np.int64))
            outputs.append(flat[offset:offset + size].reshape(shape))
            offset += size
        eval_outputs = None
        if evals is not None and len(evals):
            eval_outputs = np.fromfile(folder / "eval_out.bin", dtype=np.float32).reshape(len(evals), -1)
        dump = (folder / "dump.etdp").read_bytes() if etdump else None
    return RunnerResult(info=info, outputs=outputs, eval_outputs=eval_outputs, etdump=dump,
                        stderr=stderr)


def _parse(stdout: str) -> dict[str, Any]:
    """The runner's one JSON line (the last line that parses as an object)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict):
                return found
    return {}


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""
