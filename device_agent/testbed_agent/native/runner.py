"""Invoke the compiled ``et_runner``: write the inputs as raw bytes, run it, read JSON and outputs.

Standard library and numpy only (no torch, no executorch import).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: numpy dtypes the runner accepts as input, by its --input-dtype name.
INPUT_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32, "float16": np.float16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "int8": np.int8, "bool": np.bool_}


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
    raise RunnerError(f"the native runner takes {', '.join(INPUT_DTYPES)} input, not {x.dtype}")


def _as_list(arrays: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """One array per method input (a bare array is the one input of a one-input model)."""
    return [arrays] if isinstance(arrays, np.ndarray) else list(arrays)


def _eval_arrays(evals: Sequence[np.ndarray] | np.ndarray | None, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Each eval array [N, ...] as its input's dtype, checked: one sample = one input; [] if none."""
    if evals is None:
        return []
    arrays = [np.asarray(e) for e in _as_list(evals)]
    if len(arrays) != len(xs):
        raise RunnerError(f"{len(arrays)} eval arrays given for {len(xs)} inputs")
    if any(e.ndim == 0 for e in arrays):
        raise RunnerError("each eval array must be [N, ...] (N samples of its input)")
    counts = [len(e) for e in arrays]
    if len(set(counts)) > 1:
        raise RunnerError(f"the eval arrays hold different sample counts: {counts}")
    if not counts or not counts[0]:
        return []
    out = []
    for i, (e, x) in enumerate(zip(arrays, xs, strict=True)):
        # the runner reads one sample as one timing input's bytes (batch 1)
        if int(np.prod(e.shape[1:], dtype=np.int64)) != x.size:
            raise RunnerError(f"eval samples {e.shape[1:]} of input {i} do not match the input {x.shape}")
        out.append(np.asarray(e, dtype=x.dtype, order="C"))
    return out


def run(binary: Path, model: str, xs: Sequence[np.ndarray] | np.ndarray, *, warmup: int = 0,
        iterations: int = 1, min_time_s: float = 0.0, max_time_s: float | None = None,
        warmup_min_s: float = 0.0, threads: int | None = None,
        evals: Sequence[np.ndarray] | np.ndarray | None = None,
        etdump: bool = False, timeout_s: float | None = None,
        workdir: str | None = None) -> RunnerResult:
    """Run ``model`` on the batch-1 inputs ``xs`` through the runner; raise RunnerError on failure.

    ``xs``: one array per input of the method, in its input order (a bare array for a one-input
    model). ``evals``: one [N, ...] array per input, same order and the same N for all: sample k
    of every input is run batch-1 after the timed loop and output 0 of each comes back as
    float32 [N, K]. ``etdump``: attach an ETDump event tracer and return its bytes (a profiling
    pass: never combine it with latency you mean to report).
    """
    # np.asarray, not np.ascontiguousarray: that one turns a rank-0 input into shape (1,)
    arrays = [np.asarray(x, order="C") for x in _as_list(xs)]
    eval_arrays = _eval_arrays(evals, arrays)
    with tempfile.TemporaryDirectory(prefix="et-runner-", dir=workdir) as tmp:
        folder = Path(tmp)
        cmd = [str(binary), "--model", model]
        for i, x in enumerate(arrays):
            x.tofile(folder / f"input{i}.bin")
            # a rank-0 input sends "" (= the method's own shape, which is [] then)
            cmd += ["--input", str(folder / f"input{i}.bin"), "--input-dtype", _dtype_name(x),
                    "--input-shape", ",".join(str(int(d)) for d in x.shape)]
        cmd += ["--warmup", str(warmup), "--iterations", str(iterations),
               "--min-time-ms", repr(float(min_time_s) * 1e3),
               "--warmup-min-ms", repr(float(warmup_min_s) * 1e3),
               "--max-time-ms", repr(float(max_time_s or 0.0) * 1e3),
               "--output", str(folder / "out.bin")]
        if threads:
            cmd += ["--threads", str(threads)]
        for i, e in enumerate(eval_arrays):
            e.tofile(folder / f"eval{i}.bin")
            cmd += ["--eval", str(folder / f"eval{i}.bin")]
        if eval_arrays:
            cmd += ["--eval-count", str(len(eval_arrays[0])),
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
        if eval_arrays:
            eval_outputs = np.fromfile(folder / "eval_out.bin",
                                       dtype=np.float32).reshape(len(eval_arrays[0]), -1)
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
