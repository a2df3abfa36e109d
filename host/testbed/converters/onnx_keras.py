"""Keras 3 → ONNX fp32 with tf2onnx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import import_tensorflow, keras_call, keras_signature, name_onnx_outputs, output_names, quiet_stdout
from .base import Converter, ZooModelLike
from .registry import register

OPSET = 17


@register
class OnnxKerasFp32(Converter):
    """``tf2onnx.convert.from_function`` on a ``tf.function`` with a batch-1 NHWC signature.

    (``tf2onnx.convert.from_keras`` fails on Keras 3 models, hence the function route.)
    """

    name = "onnx-keras-fp32"
    source = "keras"
    format = "onnx"
    quantization = "fp32"
    runtime = "onnxruntime"
    layout = "NHWC"
    extension = ".onnx"
    modules = ("tensorflow", "keras", "tf2onnx", "onnx")
    distributions = ("tensorflow|tensorflow-cpu", "keras", "tf2onnx", "onnx")

    def options(self) -> dict[str, Any]:
        """Opset, entry point and I/O naming."""
        return {"opset": OPSET, "api": "tf2onnx.convert.from_function", "batch": 1,
                "input_names": "the model's (spec.inputs)", "output_names": "the model's (spec.outputs)"}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Trace the Keras model as a ``tf.function``, convert, check and write it."""
        keras_model = model.keras_model()
        try:
            tf = import_tensorflow()
            import onnx
            import tf2onnx

            signature = keras_signature(model)
            function = tf.function(keras_call(keras_model, len(signature)), input_signature=signature)
            with quiet_stdout():
                tf2onnx.convert.from_function(function, input_signature=signature, opset=OPSET,
                                              output_path=str(out_path))
            name_onnx_outputs(str(out_path), output_names(model))
            onnx.checker.check_model(str(out_path), full_check=True)
        except Exception as exc:
            raise self._fail(exc) from exc
        return {"opset": OPSET}

