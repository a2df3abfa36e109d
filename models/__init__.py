"""testbed_zoo: the model zoo, one folder per model, each discovered by its ``spec.yaml``.

Public API::

    available() -> list[str]          ids of the discovered models, sorted
    load(spec) -> ZooModel            a zoo id, or a user model: a .pt2 / .keras / .onnx / .tflite
                                      file, a SavedModel folder or "package.module:function"
                                      (see testbed_zoo.user); anything wrong is one ModelError line
    to_layout(x_nchw, layout)         "NCHW" (identity) or "NHWC"; non-4-D inputs are unchanged

Importing this package is cheap: torch, TensorFlow/Keras and scikit-learn are imported only
inside the functions that need them.
"""

from __future__ import annotations

import importlib

from testbed.errors import ModelError

from .base import ZOO_ROOT, ZooModel, hash_sources
from .layout import to_layout
from .spec import SPEC_FILENAME, ModelSpec, load_spec

__all__ = ["ModelSpec", "ZooModel", "available", "hash_sources", "load", "load_spec", "to_layout"]


def available() -> list[str]:
    """Ids of the models in the zoo (sub-folders holding a ``spec.yaml``), sorted."""
    return sorted(
        p.name for p in ZOO_ROOT.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and (p / SPEC_FILENAME).is_file()
    )


def load(model_id: str) -> ZooModel:
    """Load one model: a zoo id (validated spec + the folder's ``Model`` class; lazy, cheap), or a
    user model file / factory (loaded and run once to inspect it; see :mod:`testbed_zoo.user`)."""
    ids = available()
    if model_id not in ids:
        from .user import SUPPORTED, load_user, looks_like_user_model

        if looks_like_user_model(model_id):
            return load_user(model_id)
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
    return cls(spec, folder)
