"""User models: a model file or a factory function, wrapped as a :class:`ZooModel`.

``testbed_zoo.load`` hands anything that is not a zoo id to :func:`load_user`:

=====================================  ==============  ==================================================
spec string                            frameworks      how it is read
=====================================  ==============  ==================================================
``path/model.pt2``                     pytorch         ``torch.export.load``; ``.module()`` runs it
``path/model.keras``                   keras           ``keras.models.load_model`` (safe mode)
``path/saved_model_dir/``              keras           ``keras.layers.TFSMLayer`` on ``serving_default``
``path/model.onnx``                    onnx            used as is; onnxruntime runs the file
``path/model.tflite``                  tflite          used as is; the LiteRT interpreter runs the file
``package.module:function``            pytorch|keras   ``function()`` returns ``(model, example_inputs)``
=====================================  ==============  ==================================================

Every kind takes named tensor inputs and gives named outputs (``spec.inputs`` / ``spec.outputs``,
see models/user_io.py): inputs of float32, float16, int8, uint8, int32, int64 or bool, of any rank (a
scalar too, except as a model's only input), the first one with a batch dimension of 1 or dynamic;
dynamic dimensions are sized by the model's own example (.pt2, factories) or by the user
(``load(spec, input_shapes={"audio": [1, 16000]})``, the CLI's ``--input-shape audio=1,16000``).
Every output counts (``references`` returns them all; ``num_classes`` is the values per sample of
the first). 4-D inputs are NCHW in the spec (pytorch is NCHW, keras NHWC; an onnx/tflite file's
layout is guessed from where its small channel dim sits, default NCHW for ONNX and NHWC for TFLite:
``spec.file_layout``; what such a file computes in, fp32 / fp16 / int8, is read from its ops and
tensor types: ``spec.file_precision``, see models/precision.py). No eval set; calibration and parity
inputs are seeded random, fitted to each input's dtype and role (token ids in ``[0, USER_INT_HIGH)``,
an input named ``*mask*`` 0/1); the example input is the program's / factory's own example where
there is one. A factory returns ``(model, example_inputs)``: one tensor / array, a tuple or list of
them (named after the forward's parameters, else ``input_0``, ...; a Keras model's in its input order)
or a dict name -> tensor (passed by keyword). Input order: positional formats keep theirs; a
SavedModel's and a TFLite signature's inputs are in the signature's (sorted) order, and a format fed
by name leads with an input that has a batch dimension. ``source_hash`` is the sha256 of the file
bytes (a SavedModel: of all its files; a factory: of its module's source file and the function name),
with every input's resolved shape folded in when the user gave ``input_shapes``. Every problem is one
:class:`ModelError` line naming the spec and the fix.

This module picks the loader; beside it: ``user_model`` (the ``UserModel`` class), ``user_io`` (inputs:
batch, shapes, seeded samples, the feed), ``user_describe`` (outputs, the spec, hashes), ``user_torch``,
``user_keras`` and ``user_files`` (.onnx/.tflite).
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .base import ZooModel
from .errors import ModelError
from .user_describe import fail
from .user_files import load_onnx, load_tflite
from .user_keras import keras_user_model, load_keras_file, load_saved_model
from .user_model import UserModel
from .user_torch import factory_torch, load_pt2

__all__ = ["FILE_KINDS", "SUPPORTED", "UserModel", "load_user", "looks_like_user_model"]

FILE_KINDS = {".pt2": "torch.export program", ".keras": "Keras model", ".onnx": "ONNX model", ".tflite": "TFLite model"}
SUPPORTED = ".pt2 (torch.export), .keras, a SavedModel folder, .onnx, .tflite, or package.module:function"
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def looks_like_user_model(text: str) -> bool:
    """Whether ``text`` names a file, folder or factory (rather than a mistyped zoo id)."""
    return bool(_FACTORY.match(text)) or "/" in text or "\\" in text or bool(Path(text).suffix) or Path(text).exists()


InputShapes = Mapping[str, Sequence[int]] | None


def load_user(text: str, input_shapes: InputShapes = None) -> ZooModel:
    """Load a user model from a path or ``package.module:function`` (see the module docstring);
    ``input_shapes`` sizes inputs by name (full shapes, NCHW for images, batch 1)."""
    model = _load(text, input_shapes)
    if input_shapes and isinstance(model, UserModel):  # other shapes, other artifacts: another hash
        model.fold_into_hash(model.input_shapes)
    return model


def _load(text: str, input_shapes: InputShapes) -> ZooModel:
    if _FACTORY.match(text) and not Path(text).exists():
        return _load_factory(text, input_shapes)
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(f"{text}: no such file or folder; give an existing {SUPPORTED}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return load_saved_model(path, text, input_shapes)
        raise ModelError(f"{text}: a folder, but not a SavedModel (no saved_model.pb); give a {SUPPORTED}")
    loaders: dict[str, Callable[[Path, str, InputShapes], ZooModel]] = {
        ".pt2": load_pt2,
        ".keras": load_keras_file,
        ".onnx": load_onnx,
        ".tflite": load_tflite,
    }
    suffix = path.suffix.lower()
    if suffix not in loaders:
        raise ModelError(f"{text}: unknown model file extension '{path.suffix}'; give a {SUPPORTED}")
    return loaders[suffix](path, text, input_shapes)


def _load_factory(text: str, input_shapes: InputShapes) -> ZooModel:
    module_name, func_name = text.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise fail(text, f"cannot import module '{module_name}'", exc,
                   "put the folder that holds it on PYTHONPATH (or install it)") from exc
    func = getattr(module, func_name, None)
    if func is None or not callable(func):
        where = getattr(module, "__file__", None) or module_name
        raise fail(text, f"module '{module_name}' ({where}) has no function '{func_name}'",
                   fix="name a function defined in that module")
    try:
        result = func()
    except Exception as exc:
        raise fail(text, f"calling {func_name}() failed", exc) from exc
    wrong = "it must return (model, example_inputs) with a torch.nn.Module or keras.Model"
    if not (isinstance(result, tuple) and len(result) == 2):
        raise fail(text, f"{func_name}() returned a {type(result).__name__}", fix=wrong)
    model, example = result
    torch = sys.modules.get("torch")
    keras = sys.modules.get("keras")
    source = getattr(module, "__file__", None)
    digest = hashlib.sha256(Path(source).read_bytes() if source else module_name.encode())
    digest.update(b"\0" + text.encode())
    folder = Path(source).parent if source else Path.cwd()
    if torch is not None and isinstance(model, torch.nn.Module):
        module = model.to(device="cpu").eval()
        return factory_torch(text, func_name, module, example, folder, digest.hexdigest(), input_shapes)
    if keras is not None and isinstance(model, keras.Model):
        return keras_user_model(text, func_name, model, folder, digest.hexdigest(), None, input_shapes, example)
    raise fail(text, f"{func_name}() returned a {type(model).__name__} as its model", fix=wrong)
