"""Model files used as they are: ``.onnx`` (run by onnxruntime) and ``.tflite`` (run by LiteRT); their
layout guessed from the input shape, what they compute in (fp32 / fp16 / int8) read from the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .base import ZooModel
from .layout import guess_layout
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


def load_onnx(path: Path, text: str) -> ZooModel:
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise fail(text, "cannot load the ONNX file (corrupt or not ONNX)", exc,
                   "export it again (torch.onnx.export / tf2onnx) and check it with onnx.checker") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise fail(text, f"the ONNX graph takes {len(inputs)} inputs", fix=SINGLE_INPUT)
    onnx_types = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
    if inputs[0].type not in onnx_types:
        raise fail(text, f"input type {inputs[0].type} is not supported", fix="use a float32, int32 or int64 input")
    dtype = onnx_types[inputs[0].type]
    dims = [d if isinstance(d, int) else None for d in inputs[0].shape]
    native = batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(dims)])
    layout = guess_layout(native, "NCHW")
    input_name = inputs[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: x})[0], dtype=np.float32)

    return _file_model(text, path, "onnx", native, dtype, layout, run)


def file_precision(text: str, path: Path, framework: str) -> tuple[str, str]:
    """``(spec.file_precision, evidence)`` of a user's .onnx / .tflite file (models/precision.py)."""
    from .precision import onnx_precision, tflite_precision

    try:
        return onnx_precision(path) if framework == "onnx" else tflite_precision(path)
    except Exception as exc:
        raise fail(text, f"cannot read the {framework} file's tensor types", exc) from exc


def load_tflite(path: Path, text: str) -> ZooModel:
    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
    except Exception as exc:
        raise fail(text, "cannot load the TFLite file (corrupt or not a TFLite flatbuffer)", exc,
                   "convert it again with tf.lite.TFLiteConverter or litert-torch") from exc
    details = interpreter.get_input_details()
    if len(details) != 1:
        raise fail(text, f"the TFLite model takes {len(details)} inputs", fix=SINGLE_INPUT)
    dtype = input_dtype(text, details[0]["dtype"])
    native = batch1_shape(text, [int(d) for d in details[0]["shape"]])
    layout = guess_layout(native, "NHWC")
    input_index, output_index = details[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(input_index, np.ascontiguousarray(x))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(output_index), dtype=np.float32).copy()

    return _file_model(text, path, "tflite", native, dtype, layout, run)


def _file_model(text: str, path: Path, framework: str, native: list[int], dtype: str, layout: str,
                run: Callable[[np.ndarray], np.ndarray]) -> ZooModel:
    """The UserModel of a file used as is: its outputs counted by one run, its precision read from
    its tensors, its statistics read from the file when asked for."""
    outputs = count_outputs(text, lambda: run(random_example(native, dtype)))
    precision, evidence = file_precision(text, path, framework)
    spec = make_spec(text, path.stem, framework, native, dtype, outputs, layout, file_layout=layout,
                     file_precision=precision)

    def stats() -> dict[str, Any]:
        from .stats import onnx_stats, tflite_stats

        return onnx_stats(path) if framework == "onnx" else tflite_stats(path)

    return UserModel(spec, path.parent, file_hash(path), runner=run, file=path, stats=stats,
                     precision_evidence=evidence)
