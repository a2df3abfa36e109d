"""`testbed deploy --profile-ops` and `testbed report --ops`: per-op tables for ONNX Runtime and
ExecuTorch on digits_cnn (real runtimes, a real local agent), LiteRT saying why it has none."""

from __future__ import annotations

import json

import pytest

from helpers.cli import run, run_json
from testbed.store import Store

pytestmark = pytest.mark.integration

FAST = ("--iterations", "20", "--warmup", "2", "--quant", "fp32")


@pytest.fixture(scope="module")
def profiled() -> list[dict]:
    return run_json("deploy", "--device", "local", "--model", "digits_cnn", "--profile-ops", *FAST)


def test_records_carry_a_profile_summary_per_runtime(profiled: list[dict]) -> None:
    ok = [r for r in profiled if r["status"] == "ok"]
    by_runtime = {r["runtime"]: r for r in ok}
    assert {"onnxruntime", "executorch", "litert"} <= set(by_runtime)
    for r in ok:
        assert r["runner"] == "python"
        assert "ops_table" not in r  # the full table went to the store, not the record
        assert r["latency_ms"]["n"] >= 20 and r["latency_ms"]["p50"] > 0
        if r["runtime"] == "litert":
            assert r["ops"]["available"] is False
            assert "not exposed by the LiteRT Python API" in r["ops"]["reason"]
        elif r["runtime"] in ("pytorch", "tensorflow"):  # the framework baselines bring no op profiler
            assert r["ops"]["available"] is False
            assert r["ops"]["reason"] == f"no per-op profiler for runtime {r['runtime']}"
        else:
            ops = r["ops"]
            assert ops["available"], (r["converter"], ops)
            assert ops["source"] == {"onnxruntime": "onnxruntime-profiler", "executorch": "etdump"}[r["runtime"]]
            assert ops["op_count"] >= 3 and ops["e2e_ms"] > 0 and ops["top"]


def test_full_tables_are_stored_with_the_results(profiled: list[dict]) -> None:
    rows = Store().results(profiled[0]["run_id"])
    stored = {r.converter: r.ops for r in rows if r.status == "ok"}
    assert stored["onnx-torch-fp32"]["source"] == "onnxruntime-profiler"
    assert any(op["op_type"] == "Conv" for op in stored["onnx-torch-fp32"]["ops"])
    et = stored["executorch-xnnpack-fp32"]
    assert et["source"] == "etdump" and et["e2e_event"] == "Method::execute"
    assert any("Convolution" in op["op_type"] and op["delegated"] for op in et["ops"])


def test_report_shows_top_ops_and_the_unaccounted_share(profiled: list[dict]) -> None:
    run_id = profiled[0]["run_id"]
    proc = run("report", "--ops", run_id, "--top", "5")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "onnx-torch-fp32" in out and "executorch-xnnpack-fp32" in out
    assert out.count("unaccounted") >= 2 and "end to end (model_run, mean)" in out
    assert "end to end (Method::execute, mean)" in out
    assert "not exposed by the LiteRT Python API" in out

    data = json.loads(run("report", "--ops", run_id, "--json", "--runtime", "onnxruntime").stdout)
    assert data and all(d["runtime"] == "onnxruntime" for d in data)
    for d in data:
        shares = sum(r["share"] for r in d["rows"]) + d["other"]["share"] + d["unaccounted_share"]
        assert shares == pytest.approx(1.0)
        assert d["timed_p50_ms"] > 0 and d["profiled_vs_timed"] > 0


def test_report_by_type_and_errors(profiled: list[dict]) -> None:
    proc = run("report", "--ops", profiled[0]["run_id"], "--by", "type", "--runtime", "onnxruntime")
    assert proc.returncode == 0 and "Conv" in proc.stdout and "op type" in proc.stdout
    missing = run("report", "--ops", "nosuchrun")
    assert missing.returncode == 2 and "no results stored for run nosuchrun" in missing.stderr
    bare = run("report")
    assert bare.returncode == 2 and "--ops RUN_ID" in bare.stderr
