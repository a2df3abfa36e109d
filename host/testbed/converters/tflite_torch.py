"""PyTorch → TFLite fp32 with litert-torch (formerly ai-edge-torch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._support import torch_example, torch_threads
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
    modules = ("torch", "litert_torch")
    distributions = ("torch", "litert-torch", "litert-converter", "ai-edge-litert")

    def options(self) -> dict[str, Any]:
        """Entry point and export mode (no quantization config)."""
        return {"api": "litert_torch.convert", "strict_export": False, "quant_config": None, "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Convert with litert-torch and write the flatbuffer."""
        module = model.torch_module()
        sample = torch_example(model)
        try:
            os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import litert_torch
            import torch

            with torch_threads(1), torch.no_grad():
                edge_model = litert_torch.convert(module, (sample,), strict_export=False)
            edge_model.export(str(out_path))
        except Exception as exc:
            raise self._fail(exc) from exc
        return {}
