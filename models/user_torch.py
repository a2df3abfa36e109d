"""PyTorch user models: a ``torch.export`` program (``.pt2``) or a factory's ``torch.nn.Module``.

Inputs are named by the program's input signature, or by the factory's example: a dict's keys, else
the forward's parameter names (``input_0``, ``input_1``, ... where it has too few). Every tensor the
model returns is an output (nested tuples, lists and dicts flattened in order; a dict's keys name them).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import tensors
from .base import ZooModel
from .user_describe import fail, file_hash, make_spec, output_names, run_outputs, to_numpy
from .user_io import Found, dict_form, feed, per_sample, plan_inputs, seeded
from .user_model import UserModel


def forward_names(module: Any) -> list[str]:
    """The positional parameter names of ``module.forward`` (none where it takes ``*args``)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def torch_example(text: str, example: Any, params: Sequence[str]) -> tuple[list[str], list[np.ndarray], int]:
    """A factory's example inputs: ``(names, arrays, how many are positional)``; a dict's items are
    keyword arguments unless its keys are the forward's first parameters in order."""
    if isinstance(example, Mapping):
        if not all(isinstance(k, str) and k for k in example):
            raise fail(text, f"the example inputs dict has keys {list(example)}", fix="name each input with a str")
        names, values = list(example), list(example.values())
        positional = len(names) if names == list(params[:len(names)]) else 0
    elif isinstance(example, (tuple, list)):
        values = list(example)
        names = list(params[:len(values)]) if len(params) >= len(values) else [f"input_{i}" for i in range(len(values))]
        positional = len(values)
    else:
        values, names, positional = [example], list(params[:1]) or ["input"], 1
    if not values:
        raise fail(text, "the example inputs are empty", fix="give one example tensor per model input")
    arrays = [to_numpy(text, f"the example input '{n}'", v) for n, v in zip(names, values, strict=True)]
    return names, arrays, positional


def cut_batch(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """A factory's example with a batch B > 1 (the first input's dim 0): the first sample of every
    input whose dim 0 is B (the module takes any batch)."""
    batch = arrays[0].shape[0] if arrays[0].ndim else 1
    return [a[:1] if batch > 1 and a.ndim and a.shape[0] == batch else a for a in arrays]


def call_by_name(module: Any, positional: int, names: Sequence[str]) -> Any:
    """``module`` as a module of positional inputs only: the ones after ``positional`` are passed to
    it as keyword arguments named ``names`` (a dict example, a program exported with kwargs)."""
    if positional == len(names):
        return module
    import torch

    keywords = list(names[positional:])

    class ByName(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *xs: Any) -> Any:
            return self.inner(*xs[:positional], **dict(zip(keywords, xs[positional:], strict=True)))

    return ByName().eval()


def torch_user_model(text: str, name: str, module: Any, found: list[Found], examples: dict[str, np.ndarray] | None,
                     folder: Path, source_hash: str, file: Path | None,
                     input_shapes: Mapping[str, Sequence[int]] | None) -> UserModel:
    """Describe a torch module that takes ``found`` positionally (``examples``: its own, NCHW, batch 1)."""
    import torch

    decls, shapes = plan_inputs(text, found, "NCHW", input_shapes, examples)
    own = examples is not None and all(list(np.shape(examples[d.name])) == shapes[d.name] for d in decls)
    sample = dict_form(decls, examples) if own and examples is not None else seeded(decls, shapes, 1, 0)
    raw: list[Any] = []

    def run() -> list[np.ndarray]:
        with torch.no_grad():
            raw.append(module(*[torch.tensor(x) for x in feed(decls, sample, "NCHW").values()]))
        return per_sample(tensors.all_outputs(raw[0]))

    outs = run_outputs(text, run)
    spec = make_spec(text, name, "pytorch", decls, shapes, outs, output_names(_dict_keys(raw[0]), len(outs)))
    return UserModel(spec, folder, source_hash, input_shapes=shapes, torch_module=module,
                     examples=sample if own else None, file=file)


def _dict_keys(out: Any) -> list[str | None]:
    """Output names where the model returns a flat dict of tensors (else none)."""
    if isinstance(out, Mapping) and all(not isinstance(v, (Mapping, list, tuple)) for v in out.values()):
        return [str(k) for k in out]
    return []


def factory_torch(text: str, func_name: str, module: Any, example: Any, folder: Path, source_hash: str,
                  input_shapes: Mapping[str, Sequence[int]] | None) -> UserModel:
    """A factory's ``(torch.nn.Module, example_inputs)``: dims are the example's (batch cut to 1)."""
    names, arrays, positional = torch_example(text, example, forward_names(module))
    arrays = cut_batch(arrays)
    found = [Found(n, list(a.shape), str(a.dtype)) for n, a in zip(names, arrays, strict=True)]
    if input_shapes:  # a factory's module fixes no shapes: the user's replace the example's
        found = [Found(f.name, list(input_shapes.get(f.name, f.dims)), f.dtype) for f in found]
    examples = dict(zip(names, arrays, strict=True))
    return torch_user_model(text, func_name, call_by_name(module, positional, names), found, examples, folder,
                            source_hash, None, input_shapes)


def load_pt2(path: Path, text: str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> ZooModel:
    import torch

    export_log = logging.getLogger("torch.export")
    level = export_log.level
    export_log.setLevel(logging.ERROR)  # torch logs a traceback before raising on a bad archive
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise fail(text, "cannot read the torch.export program", exc,
                   "save it with torch.export.save(torch.export.export(model, (x,)), path)") from exc
    finally:
        export_log.setLevel(level)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    found = []
    for name in program.graph_signature.user_inputs:
        val = placeholders[name].meta.get("val") if name in placeholders else None
        if val is None or not hasattr(val, "dtype"):
            raise fail(text, f"the program's input '{name}' is not a tensor", fix="export it with tensor inputs only")
        dims = [int(d) if isinstance(d, int) else str(d) for d in val.shape]
        found.append(Found(str(name), dims, str(val.dtype).removeprefix("torch.")))
    examples, positional = None, len(found)
    if program.example_inputs is not None:
        args, kwargs = program.example_inputs
        values = [*args, *kwargs.values()]
        if len(values) == len(found) and all(hasattr(v, "detach") for v in values):
            arrays = [to_numpy(text, f"the program's example input '{f.name}'", v) for f, v in zip(found, values,
                                                                                                   strict=True)]
            # a dynamic batch exported with a larger example: its first sample
            arrays = [a[:1] if f.dims and isinstance(f.dims[0], str) and a.ndim and a.shape[0] > 1 else a
                      for f, a in zip(found, arrays, strict=True)]
            examples = {f.name: a for f, a in zip(found, arrays, strict=True)}
            positional = len(args)
    # ExportedProgram.module() cannot switch to eval(); it runs as it was exported (export in eval mode).
    module = call_by_name(program.module(), positional, [f.name for f in found])
    return torch_user_model(text, path.stem, module, found, examples, path.parent, file_hash(path), path,
                            input_shapes)
