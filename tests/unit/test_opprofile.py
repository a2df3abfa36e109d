"""Per-op profiles: the ONNX Runtime trace parser (worker), normalization and reconciliation
(host), on small hand-made traces and tables."""

from __future__ import annotations

import base64

import pytest

from testbed import opsreport
from testbed_agent.opprofile import ort, unavailable
from testbed_agent.runtimes import get as get_runtime
from testbed_agent.runtimes.litert import OPS_REASON as LITERT_REASON


def _node(name: str, op: str, ts: int, dur: int) -> dict:
    return {"cat": "Node", "ph": "X", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
            "args": {"op_name": op, "provider": "CPUExecutionProvider"}}


def _run(ts: int, dur: int) -> dict:
    return {"cat": "Session", "ph": "X", "name": "model_run", "ts": ts, "dur": dur}


def _trace() -> list[dict]:
    """Three runs (the first a warm-up): conv then gemm, plus the fences ORT also writes."""
    trace = [{"cat": "Session", "ph": "X", "name": "session_initialization", "ts": 0, "dur": 500}]
    for i, start in enumerate((1000, 2000, 3000)):
        slow = 5 if i == 0 else 0
        trace += [_node("conv", "Conv", start + 1, 60 + slow), _node("gemm", "Gemm", start + 70, 20),
                  {"cat": "Node", "ph": "X", "name": "conv_fence_before", "ts": start + 1, "dur": 0},
                  _run(start, 100 + slow)]
    return trace


def test_ort_trace_skips_warmup_runs_and_keeps_node_order() -> None:
    parsed = ort.parse_trace(_trace(), skip_runs=1)
    assert parsed["source"] == "onnxruntime-profiler" and parsed["runs"] == 2
    assert parsed["e2e_us"] == [100.0, 100.0]
    assert [(op["name"], op["op_type"], op["calls"], op["total_us"]) for op in parsed["ops"]] == [
        ("conv", "Conv", 2, 120.0), ("gemm", "Gemm", 2, 40.0)]


def test_ort_table_reconciles_with_an_explicit_unaccounted_share() -> None:
    raw = {**ort.parse_trace(_trace(), skip_runs=1), "warmup": 1}
    table = opsreport.normalize(raw)
    assert table is not None and table["available"] and table["e2e_ms"] == pytest.approx(0.1)
    rec = opsreport.reconcile(table, timed_p50_ms=0.08, top=1)
    assert [r["name"] for r in rec["rows"]] == ["conv"]
    assert rec["rows"][0]["share"] == pytest.approx(0.6)
    assert rec["other"] == {"count": 1, "ms_per_run": pytest.approx(0.02), "share": pytest.approx(0.2)}
    assert rec["unaccounted_ms"] == pytest.approx(0.02) and rec["unaccounted_share"] == pytest.approx(0.2)
    total = sum(r["share"] for r in rec["rows"]) + rec["other"]["share"] + rec["unaccounted_share"]
    assert total == pytest.approx(1.0)  # every millisecond of end-to-end is somewhere
    assert rec["profiled_vs_timed"] == pytest.approx(0.1 / 0.08)


def test_by_type_sums_nodes() -> None:
    table = {"source": "x", "available": True, "runs": 1, "e2e_ms": 10.0, "e2e_median_ms": 10.0,
             "ops": [{"name": "a", "op_type": "Conv", "calls_per_run": 1, "ms_per_run": 3.0},
                     {"name": "b", "op_type": "Conv", "calls_per_run": 1, "ms_per_run": 4.0},
                     {"name": "c", "op_type": "Add", "calls_per_run": 1, "ms_per_run": 1.0}]}
    rec = opsreport.reconcile(table, None, by="type")
    assert [(r["name"], r["ms_per_run"], r["nodes"]) for r in rec["rows"]] == [("Conv", 7.0, 2), ("Add", 1.0, 1)]
    assert rec["unaccounted_ms"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        opsreport.reconcile(table, None, by="layer")


def test_profiler_overhead_can_make_unaccounted_negative_and_it_is_shown() -> None:
    table = {"source": "x", "available": True, "runs": 1, "e2e_ms": 1.0, "e2e_median_ms": 1.0,
             "ops": [{"name": "a", "op_type": "A", "calls_per_run": 1, "ms_per_run": 1.2}]}
    rec = opsreport.reconcile(table, None)
    assert rec["unaccounted_ms"] == pytest.approx(-0.2)  # never clipped to zero


def test_unavailable_profiles_carry_their_reason() -> None:
    """Each runtime plug-in brings its profiler (``Runtime.profile_ops``), which never raises."""
    assert get_runtime("litert").profile_ops("/nonexistent.tflite", None, None)["reason"] == LITERT_REASON  # type: ignore[arg-type]
    assert "LiteRT Python API" in LITERT_REASON
    failed = get_runtime("onnxruntime").profile_ops("/nonexistent.onnx", None, None)  # type: ignore[arg-type]
    assert failed["available"] is False and failed["reason"].startswith("profiling failed:")
    assert failed["source"] == "onnxruntime-profiler"
    table = opsreport.normalize(unavailable("none", "because"))
    assert table == {"source": "none", "available": False, "reason": "because", "ops": []}
    assert opsreport.reconcile(table)["available"] is False  # type: ignore[arg-type]
    assert opsreport.summary(table, 1.0) == {"source": "none", "available": False, "reason": "because"}
    assert opsreport.normalize(None) is None


def test_a_corrupt_etdump_is_a_reason_not_a_crash() -> None:
    raw = {"source": "etdump", "available": True, "runs": 2, "warmup": 1,
           "etdump_b64": base64.b64encode(b"not an etdump").decode()}
    table = opsreport.normalize(raw)
    assert table is not None and table["available"] is False
    assert table["reason"].startswith("the etdump profile could not be parsed")


def test_steady_samples_drop_the_warmup() -> None:
    assert opsreport._steady([9.0, 1.0, 2.0], runs=2, warmup=1) == [1.0, 2.0]
    assert opsreport._steady([9.0, 8.0, 1.0, 2.0, 7.0], runs=2, warmup=2) == [1.0, 2.0]
    assert opsreport._et_op_type("native_call_convolution.out") == "convolution"
    assert opsreport._et_op_type("Convolution (NHWC, F32) IGEMM #12") == "Convolution (NHWC, F32) IGEMM"


def test_summary_is_small_and_rounded() -> None:
    raw = {**ort.parse_trace(_trace(), skip_runs=1), "warmup": 1}
    summary = opsreport.summary(opsreport.normalize(raw), 0.1)
    assert summary is not None and summary["op_count"] == 2 and len(summary["top"]) == 2
    assert summary["unaccounted_share"] == pytest.approx(0.2)
