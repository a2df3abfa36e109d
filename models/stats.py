"""Parameter and multiply-accumulate (MAC) counts of a model, for one batch-1 input.

What is counted, per source:

* **pytorch** — ``params``: elements of ``module.parameters()`` (BatchNorm running statistics
  and other buffers excluded, tied weights once). ``macs``: counted analytically by
  ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass of the example input:
  ``aten.convolution`` (depthwise/grouped correctly), ``mm``/``addmm``/``bmm``/``baddbmm``
  (so ``nn.Linear`` and hand-written ``torch.matmul`` attention) and fused attention kernels.
* **keras** (user files without a torch twin) — ``params``: all weights except BatchNorm moving
  statistics; ``macs``: per layer from output shapes for ``Conv1D/2D``, ``DepthwiseConv2D`` and
  ``Dense`` (nested models walked); matmuls written with ``keras.ops`` are not seen.
* **onnx** — ``params``: elements of the graph initializers, except int32/int64 ones (shapes,
  axes, indices); ``macs``: ``Conv``, ``Gemm`` and ``MatMul`` nodes, shapes from ONNX shape
  inference.
* **tflite** — ``params``: elements of constant tensors (operands no op produces, other than
  the graph inputs), except int32/int64 ones (shapes, axes; also the int32 biases of quantized
  models); ``macs``: ``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED`` and ``BATCH_MATMUL`` ops.

One MAC is one multiply-add; ``flops`` is reported as ``2 * macs`` (the usual convention).
Element-wise ops, normalisation, activations, pooling, softmax and embedding look-ups are
*not* counted anywhere. ``macs``/``flops`` are None where they cannot be counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

STATS_VERSION = 1  # bump when the counting changes: part of the cache key


def result(params: int, macs: int | None, counted: str, by_op: dict[str, int] | None = None) -> dict[str, Any]:
    """The stats dict every counter returns."""
    return {
        "params": int(params),
        "macs": None if macs is None else int(macs),
        "flops": None if macs is None else 2 * int(macs),
        "macs_by_op": {k: int(v) for k, v in sorted((by_op or {}).items())},
        "counted": counted,
    }


def _numel(shape: Iterable[Any]) -> int:
    """Elements of a shape whose unknown (None / symbolic / <= 0) dims count as 1 (batch 1)."""
    return math.prod(int(d) if isinstance(d, (int, np.integer)) and d > 0 else 1 for d in shape)


def torch_stats(module: Any, example: Sequence[Any]) -> dict[str, Any]:
    """Count a torch module (see module docstring) on one forward pass of ``example`` tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in module.parameters())
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*example)
    by_op = {str(op).removeprefix("aten."): flops // 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    method = "pytorch: torch FlopCounterMode (conv, mm/addmm/bmm, attention)"
    return result(params, counter.get_total_flops() // 2, method, by_op)


def keras_stats(model: Any) -> dict[str, Any]:
    """Count a Keras model layer by layer (see module docstring)."""
    params = sum(
        _numel(w.shape) for w in model.weights if not w.path.endswith(("moving_mean", "moving_variance"))
    )
    by_op: dict[str, int] = {}
    for layer in _keras_layers(model):
        kind = type(layer).__name__
        kernel = getattr(layer, "kernel", None) if getattr(layer, "built", False) else None
        if kernel is None or kind not in ("Conv1D", "Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        try:
            out = _numel(layer.output.shape)
        except (AttributeError, ValueError):  # a layer used at several places has no single output
            continue
        k = tuple(kernel.shape)
        per_output = k[0] if kind == "Dense" else math.prod(k[:-2]) if kind == "DepthwiseConv2D" else math.prod(k[:-1])
        by_op[kind] = by_op.get(kind, 0) + out * per_output
    return result(params, sum(by_op.values()), "keras: Conv1D/Conv2D/DepthwiseConv2D/Dense layers", by_op)


def _keras_layers(model: Any) -> Iterable[Any]:
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _keras_layers(layer)
        else:
            yield layer


def onnx_stats(path: Path) -> dict[str, Any]:
    """Count an ONNX file's initializers and Conv/Gemm/MatMul nodes."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes: dict[str, list[Any]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    params = 0
    int_types = (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
        if init.data_type not in int_types:
            params += _numel(init.dims)
    by_op: dict[str, int] = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or node.output[0] not in shapes:
            continue
        out = _numel(shapes[node.output[0]])
        a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
        if node.op_type == "Conv" and b:
            per_output = _numel(b[1:])
        elif node.op_type == "Gemm" and a:
            trans_a = any(att.name == "transA" and att.i for att in node.attribute)
            per_output = a[0] if trans_a else a[1]
        elif node.op_type == "MatMul" and a:
            per_output = a[-1]
        else:
            continue
        by_op[node.op_type] = by_op.get(node.op_type, 0) + out * _numel([per_output])
    return result(params, sum(by_op.values()), "onnx: Conv/Gemm/MatMul nodes (shape inference)", by_op)


def tflite_stats(path: Path) -> dict[str, Any]:
    """Count a TFLite file's constant tensors and conv/FC/batch-matmul ops.

    Uses its own interpreter without the default (XNNPACK) delegate, which would hide the ops.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # the only op listing LiteRT offers
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {i for op in ops for i in op["inputs"] if i >= 0 and i not in produced and i not in graph_inputs}
    params = sum(
        _numel(tensors[i]["shape"])
        for i in constants if i in tensors and tensors[i]["dtype"] not in (np.int32, np.int64)
    )
    by_op: dict[str, int] = {}
    for op in ops:
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"):
            continue
        out = _numel(tensors[op["outputs"][0]]["shape"])
        a, w = (list(tensors[i]["shape"]) for i in op["inputs"][:2])
        if name == "CONV_2D":  # filter [O, kh, kw, I]
            per_output = _numel(w[1:])
        elif name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, C*M]
            per_output = _numel(w[1:3])
        elif name == "FULLY_CONNECTED":  # weights [O, K]
            per_output = w[-1]
        else:  # BATCH_MATMUL, adjoint flags not exposed: contraction is the lhs's last dim
            per_output = a[-1]
        by_op[name] = by_op.get(name, 0) + out * int(per_output)
    method = "tflite: CONV_2D/DEPTHWISE_CONV_2D/FULLY_CONNECTED/BATCH_MATMUL ops"
    return result(params, sum(by_op.values()), method, by_op)
