"""Keras user models: a ``.keras`` file, a TF SavedModel folder (its serving signature), or a factory's
``keras.Model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import ZooModel, first_output
from .frameworks import import_keras
from .user_describe import (
    SINGLE_INPUT,
    batch1_shape,
    count_outputs,
    fail,
    file_hash,
    identifier,
    input_dtype,
    make_spec,
    random_example,
)
from .user_model import UserModel


def keras_user_model(text: str, name: str, model: Any, folder: Path, source_hash: str, file: Path | None,
                     example_nhwc: np.ndarray | None = None) -> UserModel:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise fail(text, "the Keras model has no defined input",
                   fix="build it with keras.Input(shape=...) before saving")
    if len(inputs) != 1:
        raise fail(text, f"the Keras model takes {len(inputs)} inputs", fix=SINGLE_INPUT)
    dtype = input_dtype(text, inputs[0].dtype)
    shape = batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(inputs[0].shape)])
    if example_nhwc is None:
        example_nhwc = random_example(shape, dtype)
    example_nhwc = np.ascontiguousarray(example_nhwc[:1], dtype=dtype)
    outputs = count_outputs(text, lambda: np.asarray(first_output(model(example_nhwc, training=False))))
    spec = make_spec(text, name, "keras", shape, dtype, outputs, "NHWC")
    example = example_nhwc.transpose(0, 3, 1, 2).copy() if example_nhwc.ndim == 4 else example_nhwc
    return UserModel(spec, folder, source_hash, keras_model=model, example=example, file=file)


def load_keras_file(path: Path, text: str) -> ZooModel:
    keras = import_keras()
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise fail(text, "cannot load the Keras file", exc,
                   "save it with model.save('name.keras'); lambda layers need registered custom layers") from exc
    return keras_user_model(text, path.stem, model, path.parent, file_hash(path), path)


def load_saved_model(path: Path, text: str) -> ZooModel:
    """A TF SavedModel through ``keras.layers.TFSMLayer`` (its ``serving_default`` signature)."""
    keras = import_keras()
    try:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except KeyError as exc:
        raise fail(text, "the SavedModel has no 'serving_default' signature",
                   fix="save it with a serving signature (tf.saved_model.save(obj, dir, signatures=fn))") from exc
    except Exception as exc:
        raise fail(text, "cannot load the SavedModel", exc,
                   "save it with tf.saved_model.save or model.export(dir)") from exc
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise fail(text, f"its serving signature takes {len(specs)} inputs", fix=SINGLE_INPUT)
    (arg, tensor_spec), = specs.items()
    dtype = input_dtype(text, tensor_spec.dtype.as_numpy_dtype)
    shape = batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(tensor_spec.shape.as_list())])
    output_key = min(signature.structured_outputs)
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default", name="saved_model")
        inputs = keras.Input(shape=shape[1:], dtype=dtype, name=arg)
        outputs = layer(inputs)
        output = outputs[output_key] if isinstance(outputs, dict) else outputs
        model = keras.Model(inputs, output, name=identifier(path.name))
    except Exception as exc:
        raise fail(text, "cannot wrap the SavedModel's serving signature as a Keras layer", exc) from exc
    return keras_user_model(text, path.name, model, path, file_hash(path), path)
