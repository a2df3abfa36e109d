"""The PyTorch baseline: the model as a ``torch.export`` program (``.pt2``), run by torch itself
on the board (runtime ``pytorch``: ``torch.export.load(path).module()``). It measures what running
the framework costs, beside which every edge path's gain shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import torch_examples, torch_threads
from .base import Converter, ZooModelLike
from .registry import register


@register
class PyTorchExportFp32(Converter):
    """``torch.export.export`` of the eval-mode module on the batch-1 example, ``torch.export.save``."""

    name = "pytorch-export-fp32"
    source = "pytorch"
    format = "pytorch"
    quantization = "fp32"
    runtime = "pytorch"
    layout = "NCHW"
    extension = ".pt2"
    modules = ("torch",)
    distributions = ("torch",)

    def options(self) -> dict[str, Any]:
        """The export API and its mode (non-strict tracing, static batch 1)."""
        return {"api": "torch.export.export + torch.export.save", "strict": False, "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Export and save; the program is loaded back once (a file torch cannot load is no artifact)."""
        module = model.torch_module().eval()
        samples = torch_examples(model)
        try:
            import torch

            with torch_threads(1), torch.no_grad():
                program = torch.export.export(module, samples, strict=False)
                torch.export.save(program, str(out_path))
                torch.export.load(str(out_path)).module()
        except Exception as exc:
            raise self._fail(exc) from exc
        return {"torch_export": "ExportedProgram, ATen ops, weights in the archive"}
