"""ONNX int8 with ONNX Runtime's quantization tool, on top of every fp32 ONNX artifact (from
PyTorch, from Keras, and a user's .onnx file used as is).

``int8-static``: ``quantize_static`` in QDQ format, int8 activations and per-channel int8
weights, MinMax calibration on the model's real ``calibration_set()``. ``int8-dynamic``:
``quantize_dynamic``, int8 weights, activations quantized at run time. Both run
``quant_pre_process`` (shape inference + ORT graph optimization) first, as ORT recommends.
Inputs and outputs keep their types (float32, or the model's integer token ids; integer inputs
are fed to calibration as they are and never quantized).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ._support import Calibration, feed_by_name
from .file_passthrough import OnnxFileFp32
from .onnx_keras import OnnxKerasFp32
from .onnx_torch import OnnxTorchFp32
from .post_quant import PostQuantized
from .registry import register

# Node types that carry the quantization in an ORT-quantized graph.
_QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger")


class OrtStatic(PostQuantized):
    """``onnxruntime.quantization.quantize_static`` (QDQ, S8S8, per-channel, MinMax)."""

    quantization = "int8-static"
    step_modules = ("onnxruntime", "onnx")
    step_distributions = ("onnxruntime", "onnx")
    calibrated = True

    def step_options(self) -> dict[str, Any]:
        return {
            "tool": "onnxruntime.quantization.quantize_static",
            "preprocess": "quant_pre_process",
            "quant_format": "QDQ",
            "activation_type": "QInt8",
            "weight_type": "QInt8",
            "per_channel": True,
            "calibrate_method": "MinMax",
        }

    def quantize(self, src: Path, out_path: Path, calibration: Calibration | None, scratch: Path) -> dict[str, Any]:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        pre = _preprocess(src, scratch)
        reader = _CalibrationReader(_input_names(pre), calibration or [])
        quantize_static(
            str(pre),
            str(out_path),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return _summary(out_path)


class OrtDynamic(PostQuantized):
    """``onnxruntime.quantization.quantize_dynamic`` (int8 weights, per-tensor)."""

    quantization = "int8-dynamic"
    step_modules = ("onnxruntime", "onnx")
    step_distributions = ("onnxruntime", "onnx")

    def step_options(self) -> dict[str, Any]:
        return {
            "tool": "onnxruntime.quantization.quantize_dynamic",
            "preprocess": "quant_pre_process",
            "weight_type": "QInt8",
            "per_channel": False,
        }

    def quantize(self, src: Path, out_path: Path, calibration: Calibration | None, scratch: Path) -> dict[str, Any]:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(_preprocess(src, scratch)), str(out_path), weight_type=QuantType.QInt8, per_channel=False)
        return _summary(out_path)


@register
class OnnxTorchInt8Static(OrtStatic):
    name = "onnx-torch-int8-static"
    base = OnnxTorchFp32


@register
class OnnxTorchInt8Dynamic(OrtDynamic):
    name = "onnx-torch-int8-dynamic"
    base = OnnxTorchFp32


@register
class OnnxKerasInt8Static(OrtStatic):
    name = "onnx-keras-int8-static"
    base = OnnxKerasFp32


@register
class OnnxKerasInt8Dynamic(OrtDynamic):
    name = "onnx-keras-int8-dynamic"
    base = OnnxKerasFp32


@register
class OnnxFileInt8Static(OrtStatic):
    name = "onnx-file-int8-static"
    base = OnnxFileFp32


@register
class OnnxFileInt8Dynamic(OrtDynamic):
    name = "onnx-file-int8-dynamic"
    base = OnnxFileFp32


class _CalibrationReader:
    """An ORT ``CalibrationDataReader`` over batch-1 inputs (the ABC is duck-typed by ORT)."""

    def __init__(self, input_names: list[str], samples: list[dict[str, Any]]) -> None:
        self._feeds = iter([feed_by_name(input_names, x) for x in samples])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> dict[str, Any]:
        feed = self.get_next()
        if feed is None:
            raise StopIteration
        return feed


def _preprocess(src: Path, scratch: Path) -> Path:
    """ORT's ``quant_pre_process`` (symbolic shape inference + optimization) into ``scratch``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = scratch / "preprocessed.onnx"
    quant_pre_process(str(src), str(out))
    return out


def _input_names(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return [inp.name for inp in graph.input if inp.name not in initializers]


def _summary(path: Path) -> dict[str, Any]:
    """Check the quantized model and count its quantization nodes by type."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    ops = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return {"quant_nodes": {op: ops[op] for op in _QUANT_OPS if ops[op]}, "nodes": sum(ops.values())}
