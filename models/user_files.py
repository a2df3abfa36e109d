"""Model files used as they are: ``.onnx`` (run by onnxruntime) and ``.tflite`` (run by LiteRT); every
input fed by its name, every output returned; their layout guessed from the first 4-D input, what they
compute in (fp32 / fp16 / int8) read from the file.

Names: an ONNX graph's own input and output names (in its order); a TFLite file's signature names in
the signature's order where it has a signature (else its tensor names, ``serving_default_X:0`` read as
``X``, in its order); either way an input with a batch dimension leads (user_io.batch_first).
Dynamic dimensions (an ONNX ``dim_param`` or unknown dim, a TFLite ``-1``) are sized by
``--input-shape`` (models/user_io.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import ZooModel
from .layout import guess_layout
from .user_describe import fail, file_hash, make_spec, output_names, run_outputs
from .user_io import Found, batch_first, feed, per_sample, plan_inputs, seeded
from .user_model import Runner, UserModel

ONNX_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
              "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}
Shapes = Mapping[str, Sequence[int]] | None


def _layout(found: Sequence[Found], default: str) -> str:
    """The file's layout, guessed from its first 4-D input (a dynamic dim counts as no channel dim)."""
    for f in found:
        if len(f.dims) == 4:
            return guess_layout([d if isinstance(d, int) and d > 0 else 0 for d in f.dims], default)
    return default


def load_onnx(path: Path, text: str, input_shapes: Shapes = None) -> ZooModel:
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise fail(text, "cannot load the ONNX file (corrupt or not ONNX)", exc,
                   "export it again (torch.onnx.export / tf2onnx) and check it with onnx.checker") from exc
    found = []
    for i in session.get_inputs():
        if i.type not in ONNX_TYPES:
            raise fail(text, f"input '{i.name}' has type {i.type}, which is not supported",
                       fix=f"use one of {', '.join(ONNX_TYPES.values())}")
        dims = [d if isinstance(d, int) else d if isinstance(d, str) and d else -1 for d in i.shape]
        found.append(Found(i.name, dims, ONNX_TYPES[i.type]))

    def run(xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in session.run(None, xs)]

    found = batch_first(found)
    return _file_model(text, path, "onnx", found, _layout(found, "NCHW"), input_shapes, run,
                       [o.name for o in session.get_outputs()])


def _tensor_name(name: str) -> str:
    """``serving_default_ids:0`` -> ``ids`` (a converted Keras model's input tensor names)."""
    return re.sub(r":\d+$", "", re.sub(r"^serving_default_", "", name))


def load_tflite(path: Path, text: str, input_shapes: Shapes = None) -> ZooModel:
    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
    except Exception as exc:
        raise fail(text, "cannot load the TFLite file (corrupt or not a TFLite flatbuffer)", exc,
                   "convert it again with tf.lite.TFLiteConverter or litert-torch") from exc
    details = interpreter.get_input_details()
    in_names: dict[int, str] = {}
    outputs = [(_tensor_name(d["name"]), int(d["index"])) for d in interpreter.get_output_details()]
    signatures = interpreter.get_signature_list()
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
    if key is not None and len(signatures[key]["inputs"]) == len(details):
        runner = interpreter.get_signature_runner(key)
        in_names = {int(d["index"]): name for name, d in runner.get_input_details().items()}
        out_details = runner.get_output_details()
        outputs = [(name, int(out_details[name]["index"])) for name in signatures[key]["outputs"]]
        del runner  # it holds the interpreter's tensors: allocate_tensors() refuses while it lives
    if in_names:  # the signature's order (by name, as TF lists a signature's inputs)
        order = {name: i for i, name in enumerate(signatures[key]["inputs"])}
        details = sorted(details, key=lambda d: order.get(in_names.get(int(d["index"]), ""), len(order)))
    found = [Found(in_names.get(int(d["index"])) or _tensor_name(d["name"]),
                   [int(v) for v in (d.get("shape_signature") if d.get("shape_signature") is not None else d["shape"])],
                   np.dtype(d["dtype"]).name) for d in details]
    index = {f.name: int(d["index"]) for f, d in zip(found, details, strict=True)}
    found = batch_first(found)
    resized: list[bool] = []

    def run(xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        if not resized:  # dynamic dims: the inputs' concrete shapes, once
            current = {d["index"]: list(d["shape"]) for d in interpreter.get_input_details()}
            changed = [(index[name], list(x.shape)) for name, x in xs.items() if current[index[name]] != list(x.shape)]
            for i, shape in changed:
                interpreter.resize_tensor_input(i, shape)
            if changed:
                interpreter.allocate_tensors()
            resized.append(True)
        for name, x in xs.items():
            interpreter.set_tensor(index[name], x)
        interpreter.invoke()
        return [np.array(interpreter.get_tensor(i)) for _, i in outputs]

    return _file_model(text, path, "tflite", found, _layout(found, "NHWC"), input_shapes, run,
                       [name for name, _ in outputs])


def file_precision(text: str, path: Path, framework: str) -> tuple[str, str]:
    """``(spec.file_precision, evidence)`` of a user's .onnx / .tflite file (models/precision.py)."""
    from .precision import onnx_precision, tflite_precision

    try:
        return onnx_precision(path) if framework == "onnx" else tflite_precision(path)
    except Exception as exc:
        raise fail(text, f"cannot read the {framework} file's tensor types", exc) from exc


def _file_model(text: str, path: Path, framework: str, found: list[Found], layout: str, input_shapes: Shapes,
                run: Runner, names: list[str]) -> ZooModel:
    """The UserModel of a file used as is: its outputs found by one run, its precision read from
    its tensors, its statistics read from the file when asked for."""
    decls, shapes = plan_inputs(text, found, layout, input_shapes)
    sample = seeded(decls, shapes, 1, 0)
    outs = run_outputs(text, lambda: per_sample(run(feed(decls, sample, layout))))
    precision, evidence = file_precision(text, path, framework)
    spec = make_spec(text, path.stem, framework, decls, shapes, outs, output_names(names, len(outs)),
                     file_layout=layout, file_precision=precision)

    def stats() -> dict[str, Any]:
        from .stats import onnx_stats, tflite_stats

        return onnx_stats(path) if framework == "onnx" else tflite_stats(path)

    return UserModel(spec, path.parent, file_hash(path), input_shapes=shapes, runner=run, file=path, stats=stats,
                     precision_evidence=evidence)
