"""Roofline: FLOPs and bytes per inference counted from the graph, against the board's measured peak.

``add(record, result, art, model)`` (called by the engine after each measured variant) fills
``record["roofline"]``::

    {"flops", "bytes", "weight_bytes", "activation_bytes",   # per inference, counted
     "intensity_flop_per_byte", "counted_by": "onnx-tool 1.0.1",
     "counted_on": "the artifact" | "the ONNX form of the same model (pytorch)", "method",
     "peak": the agent's peak record (testbed_agent.peak) or None, "peak_missing_reason",
     "peak_used": "fp32" | "int8", "peak_gflops", "bandwidth_gb_per_s",
     "achieved_gflops", "pct_of_peak", "attainable_gflops", "ridge_flop_per_byte",
     "bound": "compute" | "memory",
     "peak_note": (only when the peak was measured while other processes used the CPUs),
     "by_op_type": (with --profile-ops) {"ops": {type: {flops, ms_per_run, achieved_gflops, pct_of_peak}},
                    "unmapped_ms_per_run", "note"},
     "reason": None, or why nothing was counted (then every figure is None)}

Where each part lives: ``count`` (onnx-tool, the count cached beside the ONNX file), ``form`` (which
graph a variant is counted on, and how quantization scales its bytes), ``figures`` (achieved, % of
peak, bound; per op type). ``cells(record)`` gives the deploy table's two columns. docs/roofline.md
says what is counted, how the peak is measured and cached, and the limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import first_line
from .count import CountError, count_onnx
from .figures import by_op_type, peak_figures
from .form import form_for

if TYPE_CHECKING:
    from testbed_zoo import ZooModel

    from ..converters.cache import Artifact

__all__ = ["CountError", "add", "cells", "roofline"]

MISSING = "–"
METHOD = ("FLOPs = 2 x the MACs onnx-tool counts per node (elementwise ops: one MAC an element); bytes = "
          "the weights read once + every op's output tensors written (onnx-tool's memory); achieved = "
          "FLOPs / p50 latency")


def add(record: dict[str, Any], result: dict[str, Any], art: Artifact, model: ZooModel) -> None:
    """``record["roofline"]`` from the artifact's counted work and the result's ``peak``."""
    record["roofline"] = roofline(record, result.get("peak"), art, model)


def roofline(record: dict[str, Any], peak: dict[str, Any] | None, art: Artifact, model: Any) -> dict[str, Any]:
    """The roofline block of one measured variant (see the module's docstring)."""
    try:
        form = form_for(art, model)
        count = count_onnx(form.path)
    except (CountError, OSError) as exc:
        return _uncounted(str(exc), peak)
    except Exception as exc:  # noqa: BLE001 - the measurement stands; its roofline says why it has none
        return _uncounted(f"{type(exc).__name__}: {first_line(exc)}", peak)
    weight_bytes = round(count.weight_bytes - count.weight_bytes_float * (1 - form.weight_scale))
    activation_bytes = round(count.activation_bytes * form.activation_scale)
    nbytes = weight_bytes + activation_bytes
    p50 = (record.get("latency_ms") or {}).get("p50")
    figures = peak_figures(count.flops, nbytes, p50, peak, art.quantization)
    out: dict[str, Any] = {
        "flops": count.flops, "bytes": nbytes, "weight_bytes": weight_bytes, "activation_bytes": activation_bytes,
        "counted_by": count.counted_by, "counted_on": form.counted_on,
        "method": METHOD + (f"; {form.scaling}" if form.scaling else ""), "peak": peak, **figures,
        "reason": None}
    table = record.get("ops_table")
    if table is not None or record.get("ops") is not None:
        out["by_op_type"] = by_op_type(count.flops_by_op_type, table, figures["peak_gflops"], art.runtime)
    return out


def _uncounted(reason: str, peak: dict[str, Any] | None) -> dict[str, Any]:
    keys = ("flops", "bytes", "weight_bytes", "activation_bytes", "intensity_flop_per_byte", "counted_by",
            "counted_on", "method", "achieved_gflops", "pct_of_peak", "attainable_gflops", "bound",
            "peak_used", "peak_missing_reason")
    return {**dict.fromkeys(keys), "peak": peak, "reason": f"work not counted: {reason}"}


def cells(record: dict[str, Any]) -> tuple[str, str]:
    """The deploy table's "GFLOP/s" and "% peak" cells: ("4.2", "31 % (compute)"); "–" when missing."""
    roof = record.get("roofline") or {}
    achieved, pct = roof.get("achieved_gflops"), roof.get("pct_of_peak")
    gflops = MISSING if achieved is None else _num(achieved)
    if pct is None:
        return gflops, MISSING
    bound = f" ({roof['bound']})" if roof.get("bound") else ""
    return gflops, f"{_num(pct)} %{bound}"


def _num(value: float) -> str:
    """Two or three significant digits: 0.042, 4.2, 31, 120."""
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"
