"""Achieved figures against the board's peak: GFLOP/s, % of peak, attainable, compute- or memory-bound.

* achieved GFLOP/s = FLOPs per inference / the p50 latency;
* the peak used is the board's int8 GOP/s for an int8-quantized variant where the board has an int8
  dot product, else its fp32 GFLOP/s (``peak_used`` says which);
* attainable = min(peak, intensity x bandwidth), the roofline at this variant's arithmetic intensity
  (FLOPs per byte moved); ``bound`` is ``compute`` at or right of the ridge point peak / bandwidth,
  ``memory`` left of it;
* per op type (with ``--profile-ops``): the op table's ms per run against the counted FLOPs of the
  same op types. ONNX Runtime's op types are ONNX's (a fused ``FusedConv`` or ``QLinearConv`` is a
  convolution); ExecuTorch's and LiteRT's event names are mapped for convolutions and matrix products
  only (``convolution``, ``Convolution (NHWC, F32) IGEMM``, ``addmm``, ``Fully Connected``...); any
  other op type is left unmapped and listed with its time.
"""

from __future__ import annotations

import re
from typing import Any

#: Op families the per-op table maps from any runtime's names: label, ONNX op types, name pattern.
FAMILIES = (
    ("Conv", ("Conv", "ConvTranspose"), re.compile(r"conv", re.IGNORECASE)),
    ("Gemm/MatMul", ("Gemm", "MatMul"),
     re.compile(r"gemm|matmul|fully.?connected|addmm|linear|^mm$|^bmm$|batch_matmul", re.IGNORECASE)),
)


def peak_figures(flops: int, nbytes: int, p50_ms: float | None, peak: dict[str, Any] | None,
                 quantization: str | None) -> dict[str, Any]:
    """The roofline's figures of one variant; every one None with a reason when it cannot be taken."""
    achieved = flops / (p50_ms / 1e3) / 1e9 if p50_ms else None
    intensity = flops / nbytes if nbytes else None
    out: dict[str, Any] = {
        "intensity_flop_per_byte": _r(intensity), "achieved_gflops": _r(achieved), "peak_used": None,
        "peak_gflops": None, "bandwidth_gb_per_s": None, "pct_of_peak": None, "attainable_gflops": None,
        "ridge_flop_per_byte": None, "bound": None, "peak_missing_reason": None}
    if not peak:
        out["peak_missing_reason"] = "the agent returned no peak (an agent older than wire schema 4?)"
        return out
    if not peak.get("available"):
        out["peak_missing_reason"] = f"the board's peak could not be measured: {peak.get('reason')}"
        return out
    if peak.get("contended"):  # a figure all of whose repetitions shared the CPUs: low, so % of peak high
        out["peak_note"] = (f"the board's peak was measured while other processes used its CPUs (clean "
                            f"repetitions: {peak.get('clean_repeats')}): the peak may be low, the % of peak high")
    used, value = "fp32", peak.get("fp32_gflops")
    if (quantization or "").startswith("int8") and peak.get("int8_gops"):
        used, value = "int8", peak["int8_gops"]
    bandwidth = peak.get("bandwidth_gb_per_s")
    out.update(peak_used=used, peak_gflops=value, bandwidth_gb_per_s=bandwidth)
    if achieved is None:
        out["peak_missing_reason"] = "no p50 latency to divide by"
    elif value:
        out["pct_of_peak"] = _r(100 * achieved / value)
    if value and bandwidth and intensity is not None:
        ridge = value / bandwidth
        out.update(attainable_gflops=_r(min(value, intensity * bandwidth)), ridge_flop_per_byte=_r(ridge),
                   bound="compute" if intensity >= ridge else "memory")
    elif value and not bandwidth:
        out["bound_missing_reason"] = f"no memory bandwidth: {peak.get('bandwidth_reason')}"
    return out


def by_op_type(flops_by_type: dict[str, int], table: dict[str, Any] | None, peak_gflops: float | None,
               runtime: str | None) -> dict[str, Any]:
    """Per op type: counted FLOPs, profiled ms per run, achieved GFLOP/s and % of peak; the op types of
    the profile that map to no counted op type listed under ``unmapped`` with their ms."""
    if not table or not table.get("available"):
        return {"available": False, "reason": (table or {}).get("reason") or "no per-op profile"}
    exact = runtime == "onnxruntime"  # ONNX Runtime names its nodes' ONNX op types
    ms: dict[str, float] = {}
    onnx_types: dict[str, tuple[str, ...]] = {}
    unmapped: dict[str, float] = {}
    for op in table.get("ops") or []:
        name, op_ms = str(op.get("op_type") or "?"), float(op.get("ms_per_run") or 0.0)
        key, types = _map(name, exact, flops_by_type)
        if key is None:
            unmapped[name] = unmapped.get(name, 0.0) + op_ms
            continue
        ms[key] = ms.get(key, 0.0) + op_ms
        onnx_types[key] = types
    rows = {}
    for key, op_ms in sorted(ms.items(), key=lambda kv: -kv[1]):
        flops = sum(flops_by_type.get(t, 0) for t in onnx_types[key])
        achieved = flops / (op_ms / 1e3) / 1e9 if op_ms > 0 else None
        rows[key] = {"flops": flops, "ms_per_run": _r(op_ms), "achieved_gflops": _r(achieved),
                     "pct_of_peak": _r(100 * achieved / peak_gflops) if achieved and peak_gflops else None}
    note = ("op types are ONNX's (ONNX Runtime)" if exact else
            "convolutions and matrix products mapped from the runtime's event names; other ops left unmapped")
    return {"available": True, "ops": rows, "unmapped_ms_per_run": {k: _r(v) for k, v in unmapped.items()},
            "note": note}


def _map(name: str, exact: bool, counted: dict[str, int]) -> tuple[str | None, tuple[str, ...]]:
    for label, types, pattern in FAMILIES:
        if pattern.search(name):
            return label, types
    if exact and name in counted:
        return name, (name,)
    return None, ()


def _r(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")
