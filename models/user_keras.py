"""Keras user models: a ``.keras`` file, a TF SavedModel folder (its serving signature), or a factory's
``keras.Model``. Inputs are named as ``model.inputs`` (a SavedModel: its signature) names them; every
output counts (a SavedModel's in the order of its output keys)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import tensors
from .base import ZooModel
from .frameworks import import_keras
from .user_describe import fail, file_hash, identifier, make_spec, output_names, run_outputs, to_numpy
from .user_io import Found, dict_form, dtype_name, feed, per_sample, plan_inputs, seeded
from .user_model import UserModel


def _examples(text: str, example: Any, names: Sequence[str]) -> list[np.ndarray]:
    """A factory's example inputs in ``model.inputs`` order: one array, a list/tuple, or a dict by name."""
    if isinstance(example, Mapping):
        missing = [n for n in names if n not in example]
        if missing or len(example) != len(names):
            raise fail(text, f"the example inputs dict has keys {list(example)}", fix=f"give the inputs {list(names)}")
        values = [example[n] for n in names]
    elif isinstance(example, (tuple, list)):
        values = list(example)
    else:
        values = [example]
    if len(values) != len(names):
        raise fail(text, f"{len(values)} example inputs given for a model of {len(names)} inputs",
                   fix=f"give one per input: {', '.join(names)}")
    return [to_numpy(text, f"the example input '{n}'", v) for n, v in zip(names, values, strict=True)]


def keras_user_model(text: str, name: str, model: Any, folder: Path, source_hash: str, file: Path | None,
                     input_shapes: Mapping[str, Sequence[int]] | None, example: Any = None,
                     outputs_named: Sequence[str] | None = None) -> UserModel:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise fail(text, "the Keras model has no defined input",
                   fix="build it with keras.Input(shape=...) before saving")
    names = [str(getattr(t, "name", "") or f"input_{i}") for i, t in enumerate(inputs)]
    found = [Found(n, [-1 if d is None else int(d) for d in t.shape], dtype_name(text, n, t.dtype))
             for n, t in zip(names, inputs, strict=True)]
    examples = None
    if example is not None:  # NHWC, of the inputs' dtypes, the first sample
        arrays = _examples(text, example, names)
        arrays = [np.ascontiguousarray(a[:1] if a.ndim else a, dtype=f.dtype)
                  for a, f in zip(arrays, found, strict=True)]
        single = len(arrays) == 1
        examples = {f.name: a.transpose(0, 3, 1, 2).copy() if a.ndim == 4 and (single or f.dtype == "float32") else a
                    for f, a in zip(found, arrays, strict=True)}
    decls, shapes = plan_inputs(text, found, "NHWC", input_shapes, examples)
    own = examples is not None and all(list(examples[d.name].shape) == shapes[d.name] for d in decls)
    sample = dict_form(decls, examples) if own and examples is not None else seeded(decls, shapes, 1, 0)

    def run() -> list[np.ndarray]:
        xs = list(feed(decls, sample, "NHWC").values())
        return per_sample(tensors.all_outputs(model(xs[0] if len(xs) == 1 else xs, training=False)))

    outs = run_outputs(text, run)
    found_names = list(outputs_named) if outputs_named else list(getattr(model, "output_names", None) or [])
    spec = make_spec(text, name, "keras", decls, shapes, outs, output_names(found_names, len(outs)))
    return UserModel(spec, folder, source_hash, input_shapes=shapes, keras_model=model,
                     examples=sample if own else None, file=file)


def load_keras_file(path: Path, text: str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> ZooModel:
    keras = import_keras()
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise fail(text, "cannot load the Keras file", exc,
                   "save it with model.save('name.keras'); lambda layers need registered custom layers") from exc
    return keras_user_model(text, path.stem, model, path.parent, file_hash(path), path, input_shapes)


def _natural(key: str) -> list[Any]:
    """Sort key: ``output_2`` before ``output_10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def load_saved_model(path: Path, text: str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> ZooModel:
    """A TF SavedModel through ``keras.layers.TFSMLayer`` (its ``serving_default`` signature, every
    input passed by name, inputs and outputs in the (natural) order of their keys)."""
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
    if not specs:
        raise fail(text, "its serving signature takes no named inputs", fix="save it with a named input signature")
    unbatched = [arg for arg, spec in specs.items()
                 if spec.shape.rank is None or spec.shape.rank == 0 or spec.shape.as_list()[0] not in (None, 1)]
    if unbatched:
        raise fail(text, f"its serving signature's input(s) {', '.join(unbatched)} have no batch dimension first "
                   "(a Keras wrapper cannot take them)", fix="convert it to .tflite or .onnx and give that file")
    outputs = signature.structured_outputs
    keys = sorted(outputs, key=_natural) if isinstance(outputs, Mapping) else []

    class NamedTFSMLayer(keras.layers.TFSMLayer):  # type: ignore[name-defined]
        """TFSMLayer calling its signature with the inputs by name (it passes a dict positionally)."""

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.call_endpoint_fn(**inputs)

    try:
        layer = NamedTFSMLayer(str(path), call_endpoint="serving_default", name="saved_model")
        # by keyword, in the signature's own keyword order (sorted; the dict's order varies with the
        # protobuf implementation loaded)
        inputs = {arg: keras.Input(shape=tuple(specs[arg].shape.as_list()[1:]), dtype=specs[arg].dtype.name, name=arg)
                  for arg in sorted(specs)}
        out = layer(inputs)
        flat = [out[k] for k in keys] if isinstance(out, Mapping) and keys else tensors.all_outputs(out)
        ins = list(inputs.values())
        model = keras.Model(ins[0] if len(ins) == 1 else ins, flat[0] if len(flat) == 1 else flat,
                            name=identifier(path.name))
    except Exception as exc:
        raise fail(text, "cannot wrap the SavedModel's serving signature as a Keras layer", exc) from exc
    return keras_user_model(text, path.name, model, path, file_hash(path), path, input_shapes,
                            outputs_named=keys or None)
