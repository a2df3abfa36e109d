"""PyTorch → ONNX fp32 with the ``torch.onnx`` (dynamo) exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import input_names, name_onnx_outputs, output_names, quiet_stdout, torch_examples, torch_threads
from .base import Converter, ZooModelLike
from .registry import register

OPSET = 18


@register
class OnnxTorchFp32(Converter):
    """``torch.onnx.export(dynamo=True)``, static batch 1, single file, checked by ``onnx.checker``."""

    name = "onnx-torch-fp32"
    source = "pytorch"
    format = "onnx"
    quantization = "fp32"
    runtime = "onnxruntime"
    layout = "NCHW"
    extension = ".onnx"
    modules = ("torch", "onnx", "onnxscript")
    distributions = ("torch", "onnx", "onnxscript")

    def options(self) -> dict[str, Any]:
        """Opset, exporter and I/O naming."""
        return {"opset": OPSET, "dynamo": True, "batch": 1, "input_names": "the model's (spec.inputs)",
                "output_names": "the model's (spec.outputs)"}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Export, then run the ONNX checker on the written file."""
        module = model.torch_module()
        samples = torch_examples(model)
        try:
            import onnx
            import torch

            with torch_threads(1), torch.no_grad(), quiet_stdout():
                torch.onnx.export(
                    module,
                    samples,
                    str(out_path),
                    dynamo=True,
                    opset_version=OPSET,
                    input_names=input_names(model),
                    external_data=False,
                    verbose=False,
                )
            name_onnx_outputs(str(out_path), output_names(model))  # the exporter's output_names can collide
            onnx.checker.check_model(str(out_path), full_check=True)
            opset_import = onnx.load(str(out_path), load_external_data=False).opset_import
            opset = max(op.version for op in opset_import if op.domain in ("", "ai.onnx"))
        except Exception as exc:
            raise self._fail(exc) from exc
        return {"opset": int(opset)}
