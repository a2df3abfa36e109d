"""Keras 3 → TFLite fp32 with TensorFlow's converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import import_tensorflow, quiet_stdout
from .base import Converter, ZooModelLike
from .registry import register


@register
class TfliteKerasFp32(Converter):
    """``tf.lite.TFLiteConverter.from_keras_model`` (no optimizations), NHWC batch-1 input.

    ``from_keras_model`` is used on purpose: with Keras 3 in TF 2.21,
    ``from_concrete_functions`` on a ``tf.function`` keeps the weights as resource variables
    (READ_VARIABLE ops) and the model computes garbage.
    """

    name = "tflite-keras-fp32"
    source = "keras"
    format = "tflite"
    quantization = "fp32"
    runtime = "litert"
    layout = "NHWC"
    extension = ".tflite"
    modules = ("tensorflow", "keras")
    distributions = ("tensorflow|tensorflow-cpu", "keras")

    def options(self) -> dict[str, Any]:
        """Converter entry point and optimization settings."""
        return {"api": "TFLiteConverter.from_keras_model", "optimizations": [], "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Convert the batch-1 Keras model and write the flatbuffer."""
        keras_model = model.keras_model()
        try:
            tf = import_tensorflow()
            with quiet_stdout():
                flatbuffer = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
            Path(out_path).write_bytes(flatbuffer)
        except Exception as exc:
            raise self._fail(exc) from exc
        return {}
