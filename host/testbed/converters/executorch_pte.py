"""PyTorch → ExecuTorch ``.pte``: XNNPACK-delegated fp32 and int8 (PT2E), and portable fp32.

All three share one pipeline (export → optional PT2E quantization → edge → optional delegate
→ ``to_executorch``) and report how much of the graph the delegate took.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ._support import CALIBRATION_SAMPLES, Calibration, calibration_inputs, pt2e_quantize, torch_examples, torch_threads
from .base import Converter, ZooModelLike
from .registry import register


class _ExecuTorch(Converter):
    """The shared ExecuTorch pipeline; subclasses pick quantization and delegate."""

    source = "pytorch"
    format = "executorch"
    runtime = "executorch"
    layout = "NCHW"
    extension = ".pte"
    modules: ClassVar[tuple[str, ...]] = ("torch", "executorch")
    distributions: ClassVar[tuple[str, ...]] = ("torch", "executorch")
    delegate: ClassVar[str | None] = "xnnpack"  # None: portable kernels only

    def options(self) -> dict[str, Any]:
        """Export mode and partitioner (everything else is the tools' defaults)."""
        partitioner = "XnnpackPartitioner()" if self.delegate == "xnnpack" else None
        return {"export": "torch.export.export(strict=False)", "partitioner": partitioner, "batch": 1}

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Export (and quantize), lower, write the program; report delegated/total op nodes."""
        module = model.torch_module()
        samples = torch_examples(model)
        calibration = self._calibration(model)
        try:
            import torch
            from executorch.exir import to_edge, to_edge_transform_and_lower

            with torch_threads(1), torch.no_grad():
                exported = torch.export.export(self._quantize(module, samples, calibration), samples, strict=False)
                if self.delegate == "xnnpack":
                    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

                    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
                else:
                    edge = to_edge(exported)
                program = edge.to_executorch()
            Path(out_path).write_bytes(program.buffer)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _delegation(edge)

    def _calibration(self, model: ZooModelLike) -> Calibration | None:
        """Calibration inputs (None when the variant needs none)."""
        return None

    def _quantize(self, module: Any, samples: tuple[Any, ...], calibration: Calibration | None) -> Any:
        """The module to export: ``module`` itself for fp32 variants."""
        return module


@register
class ExecuTorchXnnpackFp32(_ExecuTorch):
    """``torch.export`` → ``to_edge_transform_and_lower(XnnpackPartitioner)`` → ``.pte``."""

    name = "executorch-xnnpack-fp32"
    quantization = "fp32"


@register
class ExecuTorchXnnpackInt8Static(_ExecuTorch):
    """PT2E static int8 with ``XNNPACKQuantizer`` (symmetric, per-channel weights), then XNNPACK.

    ``torch.export(...).module()`` → ``prepare_pt2e`` → calibration on the model's
    ``calibration_set()`` → ``convert_pt2e`` → ``torch.export`` again → lowered like fp32. The
    program keeps the model's input type (float32, or int32 token ids) and a float32 output
    (quantize/dequantize inside the delegate).
    """

    name = "executorch-xnnpack-int8-static"
    quantization = "int8-static"
    modules = ("torch", "executorch", "torchao")
    distributions = ("torch", "executorch", "torchao")

    def options(self) -> dict[str, Any]:
        """fp32's options plus the quantizer and its calibration."""
        return {
            **super().options(),
            "quantizer": "XNNPACKQuantizer(get_symmetric_quantization_config(is_per_channel=True))",
            "calibration_samples": CALIBRATION_SAMPLES,
        }

    def _calibration(self, model: ZooModelLike) -> Calibration | None:
        return calibration_inputs(model, self.layout)

    def _quantize(self, module: Any, samples: tuple[Any, ...], calibration: Calibration | None) -> Any:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        return pt2e_quantize(module, samples, quantizer, calibration)


@register
class ExecuTorchPortableFp32(_ExecuTorch):
    """``torch.export`` → ``to_edge`` → ``to_executorch``: no delegate, ExecuTorch's portable
    kernels run every op. The reference path the delegated variants are compared against."""

    name = "executorch-portable-fp32"
    quantization = "fp32"
    delegate = None


def _delegation(edge: Any) -> dict[str, Any]:
    """Delegated vs total op nodes (and the op types left outside any delegate), or ``{}``.

    ``total_nodes`` counts the edge program's call nodes as ExecuTorch's devtools do
    (delegated + not delegated); ``non_delegated_ops`` maps op type → count.
    """
    try:
        from executorch.devtools.backend_debug import get_delegation_info

        info = get_delegation_info(edge.exported_program().graph_module)
        delegated = int(info.num_delegated_nodes)
        return {
            "delegated_nodes": delegated,
            "total_nodes": delegated + int(info.num_non_delegated_nodes),
            "delegated_subgraphs": int(info.num_delegated_subgraphs),
            "non_delegated_ops": {
                op: int(b.non_delegated) for op, b in sorted(info.delegation_by_operator.items()) if b.non_delegated
            },
        }
    except Exception:  # extra info only: never fail a good conversion over it
        return {}
