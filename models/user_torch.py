"""PyTorch user models: a ``torch.export`` program (``.pt2``) or a factory's ``torch.nn.Module``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .base import ZooModel, first_output
from .user_describe import (
    SINGLE_INPUT,
    batch1_shape,
    count_outputs,
    fail,
    file_hash,
    input_dtype,
    make_spec,
    random_example,
)
from .user_model import UserModel


def torch_example(text: str, example: Any) -> np.ndarray:
    """One example tensor / array (or a 1-tuple/list of it) as numpy."""
    if isinstance(example, (tuple, list)):
        if len(example) != 1:
            raise fail(text, f"{len(example)} example inputs given", fix=SINGLE_INPUT)
        example = example[0]
    if hasattr(example, "detach"):
        example = example.detach().cpu().numpy()
    if not isinstance(example, np.ndarray) and hasattr(example, "numpy"):
        example = example.numpy()  # TensorFlow tensors
    if not isinstance(example, np.ndarray):
        raise fail(text, f"the example input is a {type(example).__name__}", fix="give a tensor / numpy array")
    return example


def torch_user_model(text: str, name: str, module: Any, example: np.ndarray, folder: Path, source_hash: str,
                     file: Path | None, any_batch: bool) -> UserModel:
    """``any_batch``: the module takes any batch size, so a larger example is cut to its first sample."""
    import torch

    dtype = input_dtype(text, example.dtype)
    shape = batch1_shape(text, [None if any_batch else example.shape[0], *example.shape[1:]] if example.ndim else [])
    example = np.ascontiguousarray(example[:1], dtype=dtype)
    with torch.no_grad():
        outputs = count_outputs(text, lambda: first_output(module(torch.tensor(example))).detach().numpy())
    spec = make_spec(text, name, "pytorch", shape, dtype, outputs, "NCHW")
    return UserModel(spec, folder, source_hash, torch_module=module, example=example, file=file)


def load_pt2(path: Path, text: str) -> ZooModel:
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
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise fail(text, f"the program takes {len(user_inputs)} inputs", fix=SINGLE_INPUT)
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    val = node.meta["val"]
    any_batch = bool(val.shape) and not isinstance(val.shape[0], int)
    example = None
    if program.example_inputs is not None:
        args, kwargs = program.example_inputs
        tensors = [*args, *kwargs.values()]
        if len(tensors) == 1:
            example = torch_example(text, tensors[0])
    if example is None:  # no stored example: a seeded one of the placeholder's shape
        dims = [int(d) if isinstance(d, int) else None for d in val.shape]
        dims[0] = 1 if dims and dims[0] is None else dims[0]
        example = random_example(batch1_shape(text, dims), input_dtype(text, str(val.dtype).removeprefix("torch.")))
    # ExportedProgram.module() cannot switch to eval(); it runs as it was exported (export in eval mode).
    return torch_user_model(text, path.stem, program.module(), example, path.parent, file_hash(path), path, any_batch)
