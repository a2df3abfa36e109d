"""A user model's named inputs: which carry the batch, their concrete shapes, seeded samples, and the
feed the model takes.

What a loader finds is a list of :class:`Found` inputs (name, dims as the format states them - a
``str`` or negative int is a dynamic dimension - and dtype). :func:`plan_inputs` turns them into
the spec's ``InputDecl`` list (NCHW for 4-D images) and one concrete batch-1 shape per input:

* the user's ``input_shapes`` (``--input-shape NAME=1,512``) first, else the model's own example
  (a .pt2 program's or a factory's), else the static dims; a dynamic batch dimension (dim 0) is 1,
  and so is every dimension that shares its name (``state [2, batch, 128]``); a named dimension one
  input was given holds for every input that shares the name (``ids`` and ``mask`` ``[batch, seq]``);
* a dynamic dimension left without a size, a name the model does not take, a rank or a fixed size
  the model contradicts: one ``ModelError`` line naming the input and the flag.

Inputs travel as ``dict[name, [N, ...]]`` (testbed_zoo.tensors). An input whose dim 0 is the batch
(dynamic or 1) travels as ``[N, *shape[1:]]``; one without a batch dimension - a scalar ``[]``, or a
fixed first size other than 1 such as an RNN state ``[2, batch, 128]`` - travels as ``[N, *shape]``,
one whole input per sample, and a batch-1 sample is fed as ``x[0]`` (a scalar: a rank-0 array).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import tensors
from .spec import InputDecl, InputRole, TensorDtype
from .tensors import batched, dynamic
from .user_describe import Dim, fail

DTYPES: tuple[TensorDtype, ...] = ("float32", "float16", "int8", "uint8", "int32", "int64", "bool")
Shapes = dict[str, list[int]]


@dataclass(frozen=True)
class Found:
    """One model input as the format states it: name, dims in its own layout, element type."""

    name: str
    dims: list[Dim]
    dtype: str


def dtype_name(text: str, name: str, dtype: object) -> TensorDtype:
    """The numpy name of an input's dtype, if testbed feeds that dtype (else one ModelError line)."""
    try:
        found = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        found = str(dtype)
    for ok in DTYPES:
        if found == ok:
            return ok
    raise fail(text, f"input '{name}' has dtype {found}, which is not supported",
               fix=f"use one of {', '.join(DTYPES)}")


def _is_image(dims: Sequence[Dim], dtype: str) -> bool:
    return len(dims) == 4 and dtype == "float32"


def to_nchw(dims: Sequence[Dim], layout: str) -> list[Dim]:
    """4-D dims given NHWC as NCHW (anything else unchanged)."""
    if layout == "NHWC" and len(dims) == 4:
        n, h, w, c = dims
        return [n, c, h, w]
    return list(dims)


def _kind(name: str, dims: Sequence[Dim], dtype: str, multi: bool) -> InputRole:
    """The role seeded inputs are drawn for: a 4-D float32 image, 2-D int32/int64 token ids (in a
    multi-input model an input named ``*mask*`` is an attention mask, ``*type*``/``*segment*`` ids
    token types), anything else a tensor."""
    if _is_image(dims, dtype):
        return "image"
    if len(dims) == 2 and dtype in ("int32", "int64"):
        lowered = name.lower()
        if multi and "mask" in lowered:
            return "mask"
        if multi and ("segment" in lowered or "type" in lowered):
            return "segment"
        return "tokens"
    return "tensor"


def _template(dims: Sequence[Dim], known: Mapping[Dim, int]) -> str:
    return ",".join(str(known.get(d, 1) if isinstance(d, str) else 1 if d < 0 else d) for d in dims)


def batch_first(found: Sequence[Found]) -> list[Found]:
    """Inputs a format feeds by name (ONNX, TFLite, a SavedModel signature), with the first one that
    has a batch dimension moved to the front where another leads: the spec's first input carries
    the batch (``input_shape`` [1, ...]). A scalar or state first is otherwise refused."""
    lead = next((i for i, f in enumerate(found) if batched(f.dims)), 0)
    return [found[lead], *found[:lead], *found[lead + 1:]]


def plan_inputs(text: str, found: Sequence[Found], layout: str, given: Mapping[str, Sequence[int]] | None,
                examples: Mapping[str, np.ndarray] | None = None) -> tuple[list[InputDecl], Shapes]:
    """The spec's inputs (NCHW) and each one's concrete batch-1 shape (NCHW, as the model takes it).

    ``layout`` is the format's own layout of 4-D images; ``given`` the user's shapes (NCHW, like the
    spec); ``examples`` the model's own batch-1 example arrays in NCHW (a .pt2 program's or factory's)."""
    if not found:
        raise fail(text, "the model has no inputs", fix="give it at least one tensor input")
    names = [f.name for f in found]
    if len(set(names)) != len(names) or not all(names):
        raise fail(text, f"the model's inputs need distinct names, got {names}")
    multi = len(found) > 1
    decls = []
    for f in found:
        dtype = dtype_name(text, f.name, f.dtype)
        # 4-D images (and a single 4-D input: tensors.lay_out lays it out) are NCHW in the spec
        dims = to_nchw(f.dims, layout) if _is_image(f.dims, dtype) or (not multi and len(f.dims) == 4) else list(f.dims)
        decls.append(InputDecl(name=f.name, shape=dims, dtype=dtype, kind=_kind(f.name, dims, dtype, multi)))
    first = decls[0]
    label = f"the input '{first.name}'" if multi else "the input"
    if not first.shape and not multi:
        raise fail(text, "the input is a scalar", fix="give the model a batched input [1, ...]")
    if first.shape and not batched(first.shape):
        raise fail(text, f"{label} batch dimension is {first.shape[0]}",
                   fix="export / save it with a batch-1 (or dynamic batch) first input")
    return decls, resolve_shapes(text, decls, given, examples)


def resolve_shapes(text: str, decls: Sequence[InputDecl], given: Mapping[str, Sequence[int]] | None,
                   examples: Mapping[str, np.ndarray] | None = None) -> Shapes:
    """Each input's concrete batch-1 shape from ``given``, else ``examples``, else its static dims."""
    given = dict(given or {})
    names = [d.name for d in decls]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise fail(text, f"--input-shape names {', '.join(unknown)}, which the model does not take",
                   fix=f"its inputs are {', '.join(names)}")
    known: dict[Dim, int] = {d.shape[0]: 1 for d in decls if batched(d.shape) and isinstance(d.shape[0], str)}
    shapes: Shapes = {}
    for decl in decls:  # the user's shapes first: their named sizes hold for every input
        if decl.name in given:
            shapes[decl.name] = _checked(text, decl, [int(v) for v in given[decl.name]], "--input-shape")
            _learn(known, decl, shapes[decl.name])
    for decl in decls:
        if decl.name not in shapes:
            example = examples.get(decl.name) if examples is not None else None
            own = None if example is None else _checked(text, decl, list(np.shape(example)), "the model's example")
            shapes[decl.name] = _from_dims(text, decl, known, own)
            _learn(known, decl, shapes[decl.name])
    return {d.name: shapes[d.name] for d in decls}


def _learn(known: dict[Dim, int], decl: InputDecl, shape: Sequence[int]) -> None:
    for d, v in zip(decl.shape, shape, strict=True):
        if isinstance(d, str):
            known.setdefault(d, v)


def _checked(text: str, decl: InputDecl, shape: list[int], source: str) -> list[int]:
    """A full shape for ``decl``: its rank, its fixed sizes, a batch of 1, positive sizes."""
    where = f"{source} {decl.name}={','.join(map(str, shape))}"
    if len(shape) != len(decl.shape):
        raise fail(text, f"{where}: rank {len(shape)}, but the model's input '{decl.name}' is rank "
                   f"{len(decl.shape)} {decl.shape}", fix=f"give --input-shape {decl.name}={_template(decl.shape, {})}")
    for i, (d, v) in enumerate(zip(decl.shape, shape, strict=True)):
        if v < 1:
            raise fail(text, f"{where}: dimension {i} is {v}", fix="give positive sizes")
        if not dynamic(d) and d != v:
            raise fail(text, f"{where}: dimension {i} is {v}, but the model's input '{decl.name}' fixes it "
                       f"to {d} {decl.shape}", fix=f"give --input-shape {decl.name}={_template(decl.shape, {})}")
    if batched(decl.shape) and shape[0] != 1:
        raise fail(text, f"{where}: the batch dimension (0) is {shape[0]}", fix="testbed runs batch 1: give 1 there")
    return shape


def _from_dims(text: str, decl: InputDecl, known: Mapping[Dim, int], example: Sequence[int] | None) -> list[int]:
    """The static dims; a named dim another input sized (the batch's: 1), dim 0 of a batched input 1,
    else the model's own example's size; a dynamic dim without any of these is an error."""
    out, missing = [], []
    for i, d in enumerate(decl.shape):
        if not dynamic(d):
            out.append(int(d))
        elif isinstance(d, str) and d in known:
            out.append(known[d])
        elif i == 0 and batched(decl.shape):
            out.append(1)
        elif example is not None:
            out.append(example[i])
        else:
            missing.append(i)
    if missing:
        dims = ", ".join(str(i) for i in missing)
        what = ", ".join(str(decl.shape[i]) for i in missing)
        raise fail(text, f"input '{decl.name}' dimension{'s' if len(missing) > 1 else ''} {dims} "
                   f"{'are' if len(missing) > 1 else 'is'} dynamic ({what}) {decl.shape}",
                   fix=f"give its shape with --input-shape {decl.name}={_template(decl.shape, known)} "
                       f"(testbed_zoo.load(spec, input_shapes={{'{decl.name}': [...]}}))")
    return out


def dict_form(decls: Sequence[InputDecl], arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Batch-1 arrays as the model takes them (NCHW) -> the ``[1, ...]`` dict form (see the module doc)."""
    return {d.name: np.asarray(arrays[d.name]) if batched(d.shape) else np.asarray(arrays[d.name])[None]
            for d in decls}


def seeded(decls: Sequence[InputDecl], shapes: Mapping[str, Sequence[int]], n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` seeded samples of every input in the dict form, at the concrete shapes (``tensors.seeded``)."""
    return tensors.seeded(decls, n, seed, shapes)


def feed(decls: Sequence[InputDecl], xs: Mapping[str, np.ndarray], layout: str) -> dict[str, np.ndarray]:
    """One sample (``xs`` in the dict form, ``[1, ...]``) as the model takes it, in the model's input
    order: 4-D images in ``layout``, an input without a batch dimension as ``x[0]`` (rank 0 for a scalar)."""
    laid = tensors.lay_out(xs, decls, layout)
    # np.asarray keeps a rank-0 array rank 0 (np.ascontiguousarray would make it [1])
    return {d.name: np.asarray(laid[d.name] if batched(d.shape) else laid[d.name][0], order="C") for d in decls}


def per_sample(outputs: Sequence[object]) -> list[np.ndarray]:
    """The outputs of a batch-1 run as ``[1, ...]`` float32: an output whose dim 0 is not 1 (a state
    ``[2, 1, 128]``, a scalar) is one whole output of the sample and gains a leading axis."""
    out = []
    for o in outputs:
        a = np.asarray(o.detach().cpu().float().numpy() if hasattr(o, "detach") else o, dtype=np.float32)
        out.append(a if a.ndim and a.shape[0] == 1 else a[None])
    return out
