"""testbed_zoo: the model zoo, one folder per model, each discovered by its ``spec.yaml``.

Public API::

    available() -> list[str]          ids of the discovered models, sorted
    load(spec, input_shapes=None)     a zoo id, or a user model: a .pt2 / .keras / .onnx / .tflite
        -> ZooModel                   file, a SavedModel folder or "package.module:function"
                                      (see testbed_zoo.user); input_shapes {name: [1, ...]} sizes
                                      dynamic dims (--input-shape); anything wrong is one ModelError line
    to_layout(x_nchw, layout)         "NCHW" (identity) or "NHWC"; non-4-D inputs are unchanged

Importing this package is cheap: torch, TensorFlow/Keras and scikit-learn are imported only
inside the functions that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only; at run time __getattr__ imports them on first use
    from .base import ZOO_ROOT, ZooModel
    from .layout import to_layout
    from .sources import hash_sources
    from .spec import SPEC_FILENAME, ModelSpec, load_spec

__all__ = ["SPEC_FILENAME", "ZOO_ROOT", "ModelError", "ModelSpec", "ZooModel", "available", "hash_sources", "load",
           "load_spec", "to_layout"]

# Public names and the submodule defining each: importing the package (or testbed_zoo.errors, which
# the host's errors build on) does not import numpy, pydantic or the model bases.
_LAZY = {"ZOO_ROOT": "base", "ZooModel": "base", "hash_sources": "sources", "to_layout": "layout",
         "SPEC_FILENAME": "spec", "ModelSpec": "spec", "load_spec": "spec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def available() -> list[str]:
    """Ids of the models in the zoo (sub-folders holding a ``spec.yaml``), sorted."""
    from .base import ZOO_ROOT
    from .spec import SPEC_FILENAME

    return sorted(
        p.name for p in ZOO_ROOT.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and (p / SPEC_FILENAME).is_file()
    )


def load(model_id: str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> ZooModel:
    """Load one model: a zoo id (validated spec + the folder's ``Model`` class; lazy, cheap), or a
    user model file / factory (loaded and run once to inspect it; see :mod:`testbed_zoo.user`).

    ``input_shapes`` gives inputs their full batch-1 shapes by name (NCHW for images), as the CLI's
    ``--input-shape NAME=1,512`` (also read from a model reference ``MODEL#NAME=1,512;...``,
    testbed_zoo.model_ref; ``input_shapes`` wins): a user model's dynamic dimensions take these sizes
    (and they enter its source hash); a zoo model's shapes are fixed, so they are only checked. A
    name the model does not take, a rank or a fixed size it contradicts is one ModelError line."""
    from .base import ZOO_ROOT, ZooModel
    from .spec import SPEC_FILENAME, load_spec

    if "#" in model_id:  # a model reference MODEL#name=1,512;...;@inputs=PATH (testbed_zoo.model_ref)
        from .model_ref import parse

        ref = parse(model_id)
        model = load(ref.model, {**ref.input_shapes, **(input_shapes or {})})
        if ref.inputs_file is not None:  # the user's own arrays: timed and judged instead of seeded ones
            from .tensors import read_inputs_file

            model.user_inputs = read_inputs_file(model.spec.inputs, ref.inputs_file)
        return model
    ids = available()
    if model_id not in ids:
        from .user import SUPPORTED, load_user, looks_like_user_model

        if looks_like_user_model(model_id):
            return load_user(model_id, input_shapes)
        raise ModelError(f"unknown model '{model_id}'; available: {', '.join(ids)}; or give a {SUPPORTED}")
    folder = ZOO_ROOT / model_id
    spec_path = folder / SPEC_FILENAME
    spec = load_spec(spec_path)
    if spec.id != model_id:
        raise ModelError(f"{spec_path}: key 'id': '{spec.id}' does not match its folder name '{model_id}'")
    try:
        package = importlib.import_module(f"{__name__}.{model_id}")
    except ImportError as exc:
        raise ModelError(f"model '{model_id}': cannot import its package: {exc}") from exc
    cls = getattr(package, "Model", ZooModel)
    if not (isinstance(cls, type) and issubclass(cls, ZooModel)):
        raise ModelError(f"model '{model_id}': {package.__name__}.Model must subclass testbed_zoo.ZooModel")
    if input_shapes:
        from .user_io import resolve_shapes

        resolve_shapes(model_id, spec.inputs, input_shapes)
    return cls(spec, folder)
