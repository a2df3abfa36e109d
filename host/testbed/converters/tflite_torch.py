"""PyTorch → TFLite with litert-torch (formerly ai-edge-torch): fp32 and dynamic-range int8."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from ._support import pt2e_quantize, torch_examples, torch_threads
from .base import Converter, ZooModelLike
from .registry import register


@register
class TfliteTorchFp32(Converter):
    """``litert_torch.convert(module, (sample,)).export(path)``; the input stays NCHW."""

    name = "tflite-torch-fp32"
    source = "pytorch"
    format = "tflite"
    quantization = "fp32"
    runtime = "litert"
    layout = "NCHW"
    extension = ".tflite"
    modules: ClassVar[tuple[str, ...]] = ("torch", "litert_torch")
    distributions: ClassVar[tuple[str, ...]] = ("torch", "litert-torch", "litert-converter", "ai-edge-litert")

    def options(self) -> dict[str, Any]:
        """Entry point and export mode (no quantization config)."""
        return {"api": "litert_torch.convert", "strict_export": False, "quant_config": None, "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Convert with litert-torch and write the flatbuffer."""
        module = model.torch_module()
        samples = torch_examples(model)
        try:
            os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import litert_torch
            import torch

            with torch_threads(1), torch.no_grad():
                module, quant_config = self._quantize(module, samples)
                edge_model = litert_torch.convert(module, samples, strict_export=False, quant_config=quant_config)
            edge_model.export(str(out_path))
        except Exception as exc:
            raise self._fail(exc) from exc
        return {}

    def _quantize(self, module: Any, samples: tuple[Any, ...]) -> tuple[Any, Any]:
        """``(module to convert, litert_torch QuantConfig or None)``: fp32 converts as is."""
        return module, None


@register
class TfliteTorchInt8Dynamic(TfliteTorchFp32):
    """litert-torch's own PT2E dynamic-range int8: ``PT2EQuantizer`` with
    ``get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)``, passed to
    ``litert_torch.convert`` as ``QuantConfig(pt2e_quantizer=...)``: int8 weights, activations
    quantized at run time, float32 input and output. No calibration.

    (litert-torch's PT2E *static* mode makes the model's input and output int8, so the static
    variant, ``tflite-torch-int8-static``, uses ai-edge-quantizer instead; see tflite_quant.)
    """

    name = "tflite-torch-int8-dynamic"
    quantization = "int8-dynamic"
    modules = ("torch", "litert_torch", "torchao")
    distributions = ("torch", "litert-torch", "litert-converter", "ai-edge-litert", "torchao")

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "quant_config": "QuantConfig(PT2EQuantizer("
                            "get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)))",
        }

    def _quantize(self, module: Any, samples: tuple[Any, ...]) -> tuple[Any, Any]:
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig

        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        graph = pt2e_quantize(module, samples, quantizer, calibration=None, fold_quantize=False)
        return graph, QuantConfig(pt2e_quantizer=quantizer)
