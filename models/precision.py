"""What a user's .onnx / .tflite file computes in: ``"fp32"``, ``"fp16"`` or ``"int8"``.

A file used as is is labelled with what it holds (``onnx-file-int8``, ``tflite-file-fp16``), and
a file that is already quantized is never quantized again. What counts as evidence:

* **onnx** — ``int8``: quantization ops (``QuantizeLinear``, ``DequantizeLinear``,
  ``DynamicQuantizeLinear``, ``MatMulInteger``, ``ConvInteger``, any ``QLinear*``, and the
  com.microsoft ``DynamicQuantizeMatMul`` / ``MatMulIntegerToFloat`` / ``QGemm`` /
  ``QAttention``), or int8/uint8 initializers — what ``onnxruntime.quantization``'s
  ``quantize_dynamic`` (MatMulInteger / ConvInteger) and ``quantize_static`` (QDQ or QOperator)
  write. ``fp16``: float16 initializers or float16 graph inputs / outputs / value infos.
  Subgraphs (If / Loop / Scan bodies) are searched too.
* **tflite** — ``int8``: int8/uint8 tensors (dynamic-range weights, full-integer activations);
  ``fp16``: float16 tensors (float16 weights dequantized at load time).

int8 wins over fp16 (a mixed file is quantized); everything else is fp32. Each function returns
``(precision, evidence)``, the evidence a short human line such as ``"ops MatMulInteger x2,
DynamicQuantizeLinear x1; 2 int8 initializers"`` ("" for fp32).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
ONNX_QUANT_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm", "QAttention",
})


def onnx_precision(path: Path) -> tuple[str, str]:
    """The precision of an ONNX file and why (see the module docstring)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops: Counter[str] = Counter()
    init_types: Counter[int] = Counter()
    value_types: set[int] = set()
    for graph in _graphs(model.graph):
        ops.update(n.op_type for n in graph.node if n.op_type in ONNX_QUANT_OPS or n.op_type.startswith("QLinear"))
        init_types.update(init.data_type for init in graph.initializer)
        for info in (*graph.input, *graph.output, *graph.value_info):
            value_types.add(info.type.tensor_type.elem_type)
    tp = onnx.TensorProto
    int8_inits = init_types[tp.INT8] + init_types[tp.UINT8]
    if ops or int8_inits:
        parts = [f"ops {', '.join(f'{op} x{n}' for op, n in ops.most_common())}"] if ops else []
        if int8_inits:
            parts.append(f"{int8_inits} int8/uint8 initializer{'s' if int8_inits > 1 else ''}")
        return "int8", "; ".join(parts)
    if init_types[tp.FLOAT16] or tp.FLOAT16 in value_types:
        n = init_types[tp.FLOAT16]
        return "fp16", f"{n} float16 initializer{'s' if n != 1 else ''}" if n else "float16 tensors in the graph"
    return "fp32", ""


def tflite_precision(path: Path) -> tuple[str, str]:
    """The precision of a TFLite file and why (see the module docstring)."""
    from ai_edge_litert.interpreter import Interpreter

    dtypes = Counter(np.dtype(t["dtype"]).name for t in Interpreter(model_path=str(path)).get_tensor_details())
    int8 = dtypes["int8"] + dtypes["uint8"]
    if int8:
        return "int8", f"{int8} int8/uint8 tensor{'s' if int8 > 1 else ''}"
    if dtypes["float16"]:
        return "fp16", f"{dtypes['float16']} float16 tensor{'s' if dtypes['float16'] > 1 else ''}"
    return "fp32", ""


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph its nodes hold (If / Loop / Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)
