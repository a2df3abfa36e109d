"""Named multi-tensor inputs and outputs: seeded inputs fitted to each input's dtype and role, the
model's outputs flattened to a list, and the layout of a set of named inputs.

A model's inputs travel as ``dict[name, array]`` in the model's order (``spec.inputs``), every array
``[n, *shape[1:]]`` when the input's dim 0 is the batch (dynamic or 1: :func:`batched`); an input
without a batch dimension - a scalar ``[]``, an RNN state ``[2, batch, 128]`` - travels as
``[n, *shape]``, one whole input per sample, and is fed as ``x[i]`` (:func:`sample`).
Its outputs are a ``list`` in the model's order (``spec.outputs``), each ``[n, ...]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .layout import to_layout
from .spec import InputDecl

# Integer inputs of unknown range are drawn from [0, DEFAULT_INT_HIGH); token type ids from [0, 2).
DEFAULT_INT_HIGH = 10
SEGMENT_HIGH = 2

Arrays = dict[str, np.ndarray]


def dynamic(d: int | str) -> bool:
    """Whether a dimension has no size: a name (``"batch"``) or a negative int."""
    return isinstance(d, str) or d < 0


def batched(shape: Sequence[int | str]) -> bool:
    """Whether an input's dim 0 is the batch: dynamic or 1 (a scalar or a fixed other size is not)."""
    return bool(shape) and (isinstance(shape[0], str) or shape[0] < 0 or shape[0] == 1)


def sample(decl: InputDecl, x: np.ndarray, i: int) -> np.ndarray:
    """Sample ``i`` of an input's ``[n, ...]`` array as the model takes it: ``x[i:i+1]`` for a batched
    input, ``x[i]`` for one without a batch dimension (a scalar: a rank-0 array)."""
    # np.asarray(order="C"), not ascontiguousarray: that makes a rank-0 scalar [1]
    return np.asarray(x[i:i + 1] if batched(decl.shape) else x[i], order="C")


def sample_shape(decl: InputDecl, shapes: Mapping[str, Sequence[int]] | None = None) -> tuple[int, ...]:
    """One sample's shape (without the batch dimension, which the caller adds): the declared sizes,
    a dynamic dimension from ``shapes`` (the user's ``--input-shape``); a scalar input is ``()``."""
    given = (shapes or {}).get(decl.name)
    if given is not None:
        full = tuple(int(d) for d in given)
        if len(full) != len(decl.shape):
            raise ModelError(f"--input-shape {decl.name}: rank {len(full)} given, the model's input is "
                             f"rank {len(decl.shape)} {decl.shape}")
    else:
        try:
            full = decl.concrete()
        except ValueError as exc:
            raise ModelError(str(exc)) from None
    return full[1:] if batched(decl.shape) else full


def seeded(decls: Sequence[InputDecl], n: int, seed: int,
           shapes: Mapping[str, Sequence[int]] | None = None) -> Arrays:
    """``n`` seeded samples of every input, fitted to its dtype and role: floats standard normal,
    token ids in ``[0, high)``, masks of ones with a seeded tail of zeros (at least one 1), segment
    ids in ``[0, 2)``, booleans fair coins. Identical for the same seed."""
    if n < 1:
        raise ModelError(f"need at least one sample, got n={n}")
    rng = np.random.default_rng(seed)
    out: Arrays = {}
    for decl in decls:
        shape = (n, *sample_shape(decl, shapes))
        dtype = np.dtype(decl.dtype)
        if decl.kind == "mask":
            out[decl.name] = _mask(rng, shape).astype(dtype)
        elif dtype.kind == "f":  # float32 drawn as float32 (the stream the zoo's inputs always had)
            draw = np.float32 if dtype == np.float32 else np.float64
            out[decl.name] = rng.standard_normal(shape, dtype=draw).astype(dtype, copy=False)
        elif dtype.kind == "b":
            out[decl.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            high = decl.high or (SEGMENT_HIGH if decl.kind == "segment" else DEFAULT_INT_HIGH)
            if dtype.kind == "u" or dtype == np.int8:
                high = min(high, int(np.iinfo(dtype).max) + 1)
            out[decl.name] = rng.integers(0, high, size=shape).astype(dtype)
    return out


def _mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Attention masks: each row ones up to a seeded length (>= 1), zeros after (padding)."""
    mask = np.ones(shape, dtype=np.int64)
    if len(shape) >= 2 and shape[-1] > 1:
        flat = mask.reshape(-1, shape[-1])
        for row in flat:
            row[int(rng.integers(1, shape[-1] + 1)):] = 0
        mask = flat.reshape(shape)
    return mask


def lay_out(xs: Mapping[str, np.ndarray], decls: Sequence[InputDecl], layout: str) -> Arrays:
    """The inputs in ``layout``: a 4-D image input (or a model's only input) NCHW -> NHWC; the rest as is."""
    single = len(decls) == 1
    kinds = {d.name: d.kind for d in decls}
    return {name: to_layout(x, layout) if (single or kinds.get(name) == "image") else np.asarray(x)
            for name, x in xs.items()}


def take(xs: Mapping[str, np.ndarray], start: int, stop: int) -> Arrays:
    """Samples ``start:stop`` of every input."""
    return {name: x[start:stop] for name, x in xs.items()}


def count(xs: Mapping[str, np.ndarray]) -> int:
    """The number of samples (the same for every input, else a ModelError)."""
    counts = {int(np.asarray(x).shape[0]) if np.ndim(x) else -1 for x in xs.values()}
    if len(counts) != 1 or -1 in counts:
        raise ModelError(f"every input needs the same number of samples [N, ...], got shapes "
                         f"{ {n: list(np.shape(x)) for n, x in xs.items()} }")
    return counts.pop()


def all_outputs(out: Any) -> list[Any]:
    """Every tensor of a model's output, in order: itself, or the leaves of nested lists, tuples and
    dicts (dicts in their own order), as torch.export and Keras flatten them."""
    if isinstance(out, dict):
        return [leaf for value in out.values() for leaf in all_outputs(value)]
    if isinstance(out, (list, tuple)):
        return [leaf for value in out for leaf in all_outputs(value)]
    return [out]


def ordered(xs: Mapping[str, np.ndarray], decls: Sequence[InputDecl]) -> list[np.ndarray]:
    """The arrays in the model's input order; a missing or unknown name is a ModelError saying which."""
    names = [d.name for d in decls]
    missing = [n for n in names if n not in xs]
    extra = [n for n in xs if n not in names]
    if missing or extra:
        raise ModelError(f"the model takes inputs {names}, got {list(xs)}"
                         + (f" (missing: {', '.join(missing)})" if missing else "")
                         + (f" (unknown: {', '.join(extra)})" if extra else ""))
    return [np.asarray(xs[n]) for n in names]


def read_inputs_file(decls: Sequence[InputDecl], path: Path) -> Arrays:
    """The user's inputs file (``--inputs FILE.npz``: one array ``[N, ...]`` per input name, in the
    source layout; an input without a batch dimension ``[N, *shape]``), checked against the model's
    inputs; a missing, unknown or mis-shaped array is one ModelError line saying what and how to fix it."""
    names = [d.name for d in decls]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"--inputs {path}: cannot read it as an .npz of arrays ({exc}); "
                         f"save one with numpy.savez(path, {'=..., '.join(names)}=...)") from None
    missing = [n for n in names if n not in arrays]
    unknown = [k for k in arrays if k not in names]
    if missing or unknown:
        raise ModelError(f"--inputs {path}: the model takes inputs {names}; the file "
                         + (f"lacks {', '.join(missing)}" if missing else "")
                         + ("; " if missing and unknown else "")
                         + (f"has unknown {', '.join(unknown)}" if unknown else "")
                         + " (one array [N, ...] per input, named as the model names it)")
    counts = set()
    for d in decls:
        a = arrays[d.name]
        want = d.shape[1:] if batched(d.shape) else d.shape
        ok = a.ndim == len(want) + 1 and all(not isinstance(w, int) or w < 0 or w == g
                                             for w, g in zip(want, a.shape[1:], strict=False))
        if not ok:
            raise ModelError(f"--inputs {path}: array '{d.name}' is {list(a.shape)}, the model takes "
                             f"[N, {', '.join(map(str, want))}] (N samples of {d.dtype})")
        if np.dtype(d.dtype).kind in "iub" and a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
            raise ModelError(f"--inputs {path}: array '{d.name}' holds non-integer values, the model takes {d.dtype}")
        counts.add(int(a.shape[0]))
    if len(counts) != 1 or 0 in counts:
        raise ModelError(f"--inputs {path}: every array needs the same number of samples N >= 1, got "
                         f"{ {d.name: int(arrays[d.name].shape[0]) for d in decls} }")
    return {d.name: np.ascontiguousarray(arrays[d.name], dtype=d.dtype) for d in decls}
