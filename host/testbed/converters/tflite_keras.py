"""Keras 3 → TFLite with TensorFlow's converter: fp32, fp16, dynamic-range int8, full-integer int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import CALIBRATION_SAMPLES, Calibration, calibration_inputs, import_tensorflow, quiet_stdout
from .base import Converter, ZooModelLike
from .registry import register


@register
class TfliteKerasFp32(Converter):
    """``tf.lite.TFLiteConverter.from_keras_model`` (no optimizations), NHWC batch-1 input.

    ``from_keras_model`` is used on purpose: with Keras 3 in TF 2.21,
    ``from_concrete_functions`` on a ``tf.function`` keeps the weights as resource variables
    (READ_VARIABLE ops) and the model computes garbage.

    The quantized variants below only set converter attributes in :meth:`_configure`.
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
        calibration = self._calibration(model)
        try:
            tf = import_tensorflow()
            converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
            self._configure(tf, converter, calibration)
            with quiet_stdout():
                flatbuffer = converter.convert()
            Path(out_path).write_bytes(flatbuffer)
        except Exception as exc:
            raise self._fail(exc) from exc
        return {}

    def _calibration(self, model: ZooModelLike) -> Calibration | None:
        """Representative inputs (None unless the variant calibrates)."""
        return None

    def _configure(self, tf: Any, converter: Any, calibration: Calibration | None) -> None:
        """Set the converter's optimization attributes (fp32: none)."""


@register
class TfliteKerasFp16(TfliteKerasFp32):
    """``optimizations=[DEFAULT]`` + ``target_spec.supported_types=[float16]``: fp16 weights."""

    name = "tflite-keras-fp16"
    quantization = "fp16"

    def options(self) -> dict[str, Any]:
        return {**super().options(), "optimizations": ["DEFAULT"], "supported_types": ["float16"]}

    def _configure(self, tf: Any, converter: Any, calibration: Calibration | None) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]


@register
class TfliteKerasInt8Dynamic(TfliteKerasFp32):
    """``optimizations=[DEFAULT]`` without a representative dataset: dynamic-range int8
    (int8 weights, activations quantized at run time, float32 I/O)."""

    name = "tflite-keras-int8-dynamic"
    quantization = "int8-dynamic"

    def options(self) -> dict[str, Any]:
        return {**super().options(), "optimizations": ["DEFAULT"]}

    def _configure(self, tf: Any, converter: Any, calibration: Calibration | None) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]


@register
class TfliteKerasInt8Static(TfliteKerasFp32):
    """Full-integer int8: ``optimizations=[DEFAULT]``, a representative dataset from the model's
    ``calibration_set()`` (NHWC), ``supported_ops=[TFLITE_BUILTINS_INT8]`` (conversion fails
    rather than leaving float ops). ``inference_input_type``/``inference_output_type`` stay
    float32 so the artifact takes the same inputs as every other variant (a QUANTIZE op at the
    input, a DEQUANTIZE op at the output)."""

    name = "tflite-keras-int8-static"
    quantization = "int8-static"

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "optimizations": ["DEFAULT"],
            "representative_dataset": "calibration_set",
            "calibration_samples": CALIBRATION_SAMPLES,
            "supported_ops": ["TFLITE_BUILTINS_INT8"],
            "inference_input_type": "float32",
            "inference_output_type": "float32",
        }

    def _calibration(self, model: ZooModelLike) -> Calibration | None:
        return calibration_inputs(model, self.layout)

    def _configure(self, tf: Any, converter: Any, calibration: Calibration | None) -> None:
        samples = list(calibration or [])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # one input: a list of it; several: by signature name (the Keras inputs' names)
        converter.representative_dataset = lambda: ((list(x.values()) if len(x) == 1 else x) for x in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
