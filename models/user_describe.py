"""Describing a user model: its one input checked (dtype, batch-1 static shape), its output counted by
running it once, its spec built, its bytes hashed; every problem is one ``ModelError`` line (``fail``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .base import first_output
from .errors import ModelError, first_line
from .layout import shape_to_nchw
from .spec import ModelSpec

DTYPES = ("float32", "int32", "int64")
SINGLE_INPUT = "testbed supports single-input models only"  # the fix for a model with more inputs


def fail(text: str, what: str, exc: BaseException | None = None, fix: str = "") -> ModelError:
    """One line: the spec string, what is wrong (with the tool's first line) and the fix."""
    detail = f": {type(exc).__name__}: {first_line(exc, 200)}" if exc is not None else ""
    return ModelError(f"{text}: {what}{detail}{'; ' + fix if fix else ''}")


def identifier(name: str) -> str:
    """A readable id from a file stem / function name that is also a safe identifier."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "model"
    return f"m_{ident}" if ident[0].isdigit() else ident


def input_dtype(text: str, dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise fail(text, f"input dtype {name} is not supported", fix="use a float32, int32 or int64 input")
    return name


def batch1_shape(text: str, dims: list[Any]) -> list[int]:
    """Static ints with batch 1: a dynamic batch becomes 1; other dynamic dims are an error."""
    if not dims:
        raise fail(text, "the input is a scalar", fix="give the model a batched input [1, ...]")
    out: list[int] = []
    for i, d in enumerate(dims):
        static = isinstance(d, (int, np.integer)) and d > 0
        if i == 0:
            if static and d != 1:
                raise fail(text, f"the input batch dimension is {d}", fix="export / save it with a batch-1 input")
            out.append(1)
        elif static:
            out.append(int(d))
        else:
            raise fail(text, f"input dimension {i} is dynamic ({d})", fix="export / save it with a static input shape")
    return out


def make_spec(text: str, name: str, framework: str, native_shape: list[int], dtype: str, outputs: int,
              layout: str, file_layout: str | None = None, file_precision: str | None = None) -> ModelSpec:
    """The spec of a user model (input shape given in the framework's ``layout``)."""
    shape = shape_to_nchw(native_shape, layout)
    kind = ("image" if len(shape) == 4 and dtype == "float32"
            else "tokens" if len(shape) == 2 and dtype != "float32" else "tensor")
    try:  # the strings are checked here by pydantic: a bad one is the user's error below
        return ModelSpec.model_validate(dict(
            id=identifier(name),
            description=f"User {framework} model from {text}",
            task="other",
            input_kind=kind,
            input_shape=shape,
            input_dtype=dtype,
            num_classes=outputs,
            trained=False,
            weights="user",
            frameworks=[framework],
            file_layout=file_layout,
            file_precision=file_precision,
            origin=text,
        ))
    except ValidationError as exc:
        raise fail(text, f"cannot describe the model: {exc.errors()[0]['msg']}") from exc


def count_outputs(text: str, run: Callable[[], Any]) -> int:
    """Run the model once on its batch-1 example; values per sample of its first output."""
    try:
        out = np.asarray(first_output(run()))
    except ModelError:
        raise
    except Exception as exc:
        raise fail(text, "running the model on its batch-1 example input failed", exc,
                   "check the input shape/dtype it was saved with") from exc
    if out.ndim == 0 or out.size == 0:
        raise fail(text, f"the model's first output has shape {list(out.shape)}", fix="return a [1, K] output")
    return int(out.size // out.shape[0]) if out.shape[0] else int(out.size)


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names + bytes, sorted)."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def random_example(shape: list[int], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "float32":
        return rng.standard_normal(shape, dtype=np.float32)
    from .base import USER_INT_HIGH

    return rng.integers(0, USER_INT_HIGH, size=shape, dtype=np.dtype(dtype))
