"""PyTorch → ExecuTorch ``.pte`` with the XNNPACK delegate, fp32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import torch_example, torch_threads
from .base import Converter, ZooModelLike
from .registry import register


@register
class ExecuTorchXnnpackFp32(Converter):
    """``torch.export`` → ``to_edge_transform_and_lower(XnnpackPartitioner)`` → ``.pte``."""

    name = "executorch-xnnpack-fp32"
    source = "pytorch"
    format = "executorch"
    quantization = "fp32"
    runtime = "executorch"
    layout = "NCHW"
    extension = ".pte"
    modules = ("torch", "executorch")
    distributions = ("torch", "executorch")

    def options(self) -> dict[str, Any]:
        """Export mode and partitioner (everything else is the tools' defaults)."""
        return {"export": "torch.export.export(strict=False)", "partitioner": "XnnpackPartitioner()", "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Export, lower to XNNPACK and write the program; report delegated/total op nodes."""
        module = model.torch_module()
        sample = torch_example(model)
        try:
            import torch
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower

            with torch_threads(1), torch.no_grad():
                exported = torch.export.export(module, (sample,), strict=False)
                edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
                program = edge.to_executorch()
            Path(out_path).write_bytes(program.buffer)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _delegation(edge)


def _delegation(edge: Any) -> dict[str, Any]:
    """``{"delegated_nodes", "total_nodes"}`` from ExecuTorch's devtools, or ``{}`` if unavailable."""
    try:
        from executorch.devtools.backend_debug import get_delegation_info

        info = get_delegation_info(edge.exported_program().graph_module)
        delegated = int(info.num_delegated_nodes)
        return {
            "delegated_nodes": delegated,
            "total_nodes": delegated + int(info.num_non_delegated_nodes),
            "delegated_subgraphs": int(info.num_delegated_subgraphs),
        }
    except Exception:  # extra info only: never fail a good conversion over it
        return {}
