"""Describing a user model: its outputs found by running it once, its spec built from its inputs
(models/user_io.py) and outputs, its bytes hashed; every problem is one ``ModelError`` line (``fail``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .errors import ModelError, first_line
from .spec import InputDecl, ModelSpec
from .tensors import batched

Dim = int | str


def fail(text: str, what: str, exc: BaseException | None = None, fix: str = "") -> ModelError:
    """One line: the spec string, what is wrong (with the tool's first line) and the fix."""
    detail = f": {type(exc).__name__}: {first_line(exc, 200)}" if exc is not None else ""
    return ModelError(f"{text}: {what}{detail}{'; ' + fix if fix else ''}")


def identifier(name: str) -> str:
    """A readable id from a file stem / function name that is also a safe identifier."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "model"
    return f"m_{ident}" if ident[0].isdigit() else ident




def run_outputs(text: str, run: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """Run the model once on its batch-1 example; its outputs, each ``[1, ...]`` float32 (user_io.per_sample)."""
    try:
        outs = run()
    except ModelError:
        raise
    except Exception as exc:
        raise fail(text, "running the model on its batch-1 example input failed", exc,
                   "check the input shapes/dtypes it was saved with (and any --input-shape given)") from exc
    if not outs:
        raise fail(text, "the model returned no output", fix="return one or more tensors")
    for i, out in enumerate(outs):
        if out.size == 0:
            raise fail(text, f"the model's output {i} has shape {list(out.shape)[1:]}", fix="return non-empty outputs")
    return outs


def output_names(found: Sequence[str | None], count: int) -> list[str]:
    """The format's output names where it keeps distinct ones, else ``output_0``, ``output_1``, ..."""
    names = [str(n) for n in found if n]
    if len(names) == count and len(set(names)) == count:
        return names
    return [f"output_{i}" for i in range(count)]


def make_spec(text: str, name: str, framework: str, decls: list[InputDecl], shapes: dict[str, list[int]],
              outputs: list[np.ndarray], names: list[str], file_layout: str | None = None,
              file_precision: str | None = None) -> ModelSpec:
    """The spec of a user model: its inputs (NCHW) and outputs; the single-input fields describe the
    first input at its concrete batch-1 shape, ``num_classes`` the values per sample of the first output."""
    first = decls[0]
    shape = shapes[first.name] if batched(first.shape) else [1]
    kind = first.kind if first.kind in ("image", "tokens") else "tensor"
    try:  # the strings are checked here by pydantic: a bad one is the user's error below
        return ModelSpec.model_validate(dict(
            id=identifier(name),
            description=f"User {framework} model from {text}",
            task="other",
            input_kind=kind,
            input_shape=shape,
            input_dtype=first.dtype,
            num_classes=max(1, int(outputs[0].size)),
            trained=False,
            weights="user",
            frameworks=[framework],
            file_layout=file_layout,
            file_precision=file_precision,
            origin=text,
            inputs=[d.model_dump() for d in decls],
            outputs=[{"name": n, "kind": "tensor"} for n in names],
        ))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise fail(text, f"cannot describe the model: {where}: {err['msg']}") from exc


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


def to_numpy(text: str, what: str, value: Any) -> np.ndarray:
    """A torch / TensorFlow tensor or numpy array as numpy (anything else: one ModelError line)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) and hasattr(value, "numpy"):
        value = value.numpy()  # TensorFlow tensors
    if not isinstance(value, np.ndarray):
        raise fail(text, f"{what} is a {type(value).__name__}",
                   fix="give a tensor / numpy array, a tuple/list of them or a dict name -> tensor")
    return value
