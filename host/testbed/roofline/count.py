"""Work per inference counted from an ONNX graph with onnx-tool, cached beside the file it counts.

onnx-tool (``onnx_tool.Model``: ``shape_infer`` then ``profile``) gives each node its MACs and the
bytes it moves: the weights it reads (each initializer once in the graph) and the output tensors it
writes. Here FLOPs = 2 x MACs (one multiply and one add; onnx-tool counts an elementwise op's work as
one MAC an element, so those are doubled too); bytes = weights + activations written. Shapes come
from the graph: every zoo artifact has a static batch-1 shape.

A count is stored as ``roofline-count.json`` beside the ONNX file it counts (for a converter's
artifact, in its conversion-cache entry) with the counting library's version, so one file is counted
once, whichever variant asks.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

COUNT_FILE = "roofline-count.json"
_LOCK = threading.Lock()  # onnx-tool keeps no global state, but warnings.catch_warnings does


class CountError(Exception):
    """The graph could not be counted; ``str()`` is the reason, one line."""


@dataclass(frozen=True)
class Count:
    """What one inference of an ONNX graph does: FLOPs and bytes, in total and per op type."""

    flops: int
    weight_bytes: int  # initializers read, each once
    activation_bytes: int  # every op's output tensors written
    flops_by_op_type: dict[str, int]
    counted_by: str  # "onnx-tool 1.0.1"
    weight_bytes_float: int  # the floating-point part of weight_bytes (what quantization shrinks)

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def counted_by() -> str:
    """``onnx-tool <version>``; CountError when it is not installed."""
    try:
        return f"onnx-tool {importlib.metadata.version('onnx-tool')}"
    except importlib.metadata.PackageNotFoundError as exc:
        raise CountError("onnx-tool is not installed (pip install 'testbed[host-core]' or pip install "
                         "onnx-tool)") from exc


def count_onnx(path: Path) -> Count:
    """The count of the ONNX file at ``path``: from ``roofline-count.json`` beside it when that was
    made by this onnx-tool version from this file, else counted now and stored there."""
    tool = counted_by()
    cache = path.with_name(COUNT_FILE)
    stamp = {"file": path.name, "size_bytes": path.stat().st_size, "counted_by": tool}
    try:
        saved = json.loads(cache.read_text())
        if saved.get("stamp") == stamp:
            return Count(**saved["count"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    count = _profile(path, tool)
    tmp = cache.with_name(f".{COUNT_FILE}.tmp{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.write_text(json.dumps({"stamp": stamp, "count": count.to_json()}, indent=1) + "\n")
        os.replace(tmp, cache)
    except OSError:  # a read-only cache: the count stands, it is only not kept
        tmp.unlink(missing_ok=True)
    return count


def _profile(path: Path, tool: str) -> Count:
    """onnx-tool's profile of the graph (MACs and bytes per node) summed."""
    try:
        from onnx_tool import Model
    except ImportError as exc:
        raise CountError(f"onnx-tool cannot be imported: {exc}") from exc
    try:
        with _LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Model(str(path), {"verbose": False})
            if not model.valid:
                raise CountError(f"onnx-tool cannot read {path.name} as an ONNX model")
            graph = model.graph
            graph.graph_reorder_nodes()
            graph.shape_infer(None)
            graph.profile()
    except CountError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx-tool raises anything (NotImplementedError for an op)
        text = str(exc).strip().splitlines()
        raise CountError(f"onnx-tool cannot count {path.name}: {type(exc).__name__}: "
                         f"{text[0][:200] if text else ''}") from exc
    if not graph.valid_profile:
        raise CountError(f"onnx-tool could not infer every tensor shape of {path.name} (a dynamic dimension?)")
    by_type: dict[str, int] = {}
    weights: set[str] = set()
    for node in graph.nodemap.values():
        by_type[node.op_type] = by_type.get(node.op_type, 0) + 2 * int(round(node.macs[0]))
        weights.update(name for name in node.input if name in graph.initials)
    tensors = graph.tensormap
    weight_bytes = sum(int(tensors[name].get_memsize()) for name in weights)
    float_bytes = sum(int(tensors[name].get_memsize()) for name in weights
                      if "float" in str(getattr(tensors[name], "dtype", "")))
    return Count(flops=2 * int(round(graph.macs[0])), weight_bytes=weight_bytes,
                 activation_bytes=max(0, int(graph.memory) - weight_bytes), flops_by_op_type=by_type,
                 counted_by=tool, weight_bytes_float=float_bytes)
