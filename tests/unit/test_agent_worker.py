"""The real worker subprocess on a tiny ONNX model: result fields, errors, clean stdout."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from testbed_agent.errors import first_line
from testbed_agent.measure import load_inputs, npy_b64
from testbed_agent.schema import RunResult

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def dense_onnx(path: Path, w: np.ndarray, b: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def run_worker(request: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "testbed_agent.worker"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # stdout holds exactly one JSON document


@pytest.fixture()
def files(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    evals = rng.standard_normal((4, 3)).astype(np.float32)
    dense_onnx(tmp_path / "m.onnx", w, b)
    np.savez(tmp_path / "in.npz", timing=evals[:1], eval=evals)
    return {"model": str(tmp_path / "m.onnx"), "inputs": str(tmp_path / "in.npz"), "w": w, "b": b,
            "eval": evals, "tmp": tmp_path}


def test_result(files: dict) -> None:
    result = run_worker({"runtime": "onnxruntime", "artifact_path": files["model"],
                         "inputs_path": files["inputs"], "threads": 2, "warmup": 1,
                         "iterations": 10, "return_outputs": True})
    assert result["threads"] == 2 and result["settings"]["intra_op_num_threads"] == 2
    # 10 timed runs in the 5 windows the agent always takes (2 each: its share of the minimum)
    assert len(result["samples_ns"]) == 10 and result["runtime_version"]
    assert [w["n"] for w in result["measurement"]["windows"]] == [2] * 5
    outputs = np.load(io.BytesIO(base64.b64decode(result["outputs_npy_b64"])))
    np.testing.assert_allclose(outputs, files["eval"] @ files["w"] + files["b"], rtol=1e-5, atol=1e-6)
    for key in ("load_ms", "first_inference_ms", "baseline_rss_bytes", "load_peak_rss_bytes",
                "peak_rss_bytes", "artifact_size_bytes", "timing_output_npy_b64"):
        assert key in result
    typed = RunResult.from_wire(result)  # the wire schema's shape, tensors named
    assert typed.input_tensors and typed.input_tensors[0].shape == (1, 3)
    assert typed.output_tensors and typed.output_tensors[0].name == "output_0"


def test_no_outputs_and_default_threads(files: dict) -> None:
    result = run_worker({"runtime": "onnxruntime", "artifact_path": files["model"],
                         "inputs_path": files["inputs"], "threads": None, "warmup": 0,
                         "iterations": 1, "return_outputs": False})
    assert result["threads"] is None and "default" in result["settings"]["intra_op_num_threads"]
    # every field of the typed result is there (schema.RunResult); no outputs: None
    assert result["outputs_npy_b64"] is None and result["timing_output_npy_b64"] is None


def test_corrupt_model_is_one_line_error(files: dict) -> None:
    bad = files["tmp"] / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    result = run_worker({"runtime": "onnxruntime", "artifact_path": str(bad),
                         "inputs_path": files["inputs"], "threads": None, "warmup": 0,
                         "iterations": 1, "return_outputs": True})
    assert list(result) == ["error"]
    assert result["error"].startswith("loading the onnxruntime model failed: ")
    assert "\n" not in result["error"]


def test_inputs_without_timing(files: dict) -> None:
    np.savez(files["tmp"] / "bad.npz", eval=files["eval"])
    result = run_worker({"runtime": "onnxruntime", "artifact_path": files["model"],
                         "inputs_path": str(files["tmp"] / "bad.npz"), "threads": None,
                         "warmup": 0, "iterations": 1, "return_outputs": True})
    assert "no 'timing' or 'timing/<name>' arrays" in result["error"]


def test_stdout_isolation() -> None:
    code = ("import os, sys; from testbed_agent.worker import isolate_stdout, write_result;"
            "fd = isolate_stdout(); print('python noise'); os.write(1, b'native noise\\n');"
            "write_result(fd, {'ok': True})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout) == {"ok": True}
    assert "python noise" in proc.stderr and "native noise" in proc.stderr


def test_helpers(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(np.load(io.BytesIO(base64.b64decode(npy_b64(arr)))), arr)
    np.savez(tmp_path / "t.npz", timing=arr[:1])
    inputs = load_inputs(str(tmp_path / "t.npz"))
    assert inputs.names == ["input"] and inputs.timing[0].shape == (1, 3) and inputs.evals is None
    assert first_line(ValueError("\n  first\nsecond")) == "ValueError: first"
    assert first_line(RuntimeError()) == "RuntimeError"


def test_run_control_memory_and_settings(files: dict) -> None:
    """Adaptive stop fields, per-phase memory, ONNX Runtime settings and CPU affinity recorded."""
    import os

    cpu = sorted(os.sched_getaffinity(0))[0]
    result = run_worker({"runtime": "onnxruntime", "artifact_path": files["model"],
                         "inputs_path": files["inputs"], "threads": 1, "warmup": 2,
                         "warmup_min_s": 0.05, "iterations": 20, "min_time_s": 0.1,
                         "max_time_s": 5.0, "ci_target_pct": 50.0, "return_outputs": False,
                         "runtime_settings": {"graph_optimization_level": "basic",
                                              "inter_op_threads": 1},
                         "cpu_affinity": [cpu], "memory_limit_mb": 4096})
    m = result["measurement"]
    assert m["stop_reason"] in ("ci_target_met", "max_s_reached")
    assert m["ci_target_met"] is (m["stop_reason"] == "ci_target_met")
    assert len(result["samples_ns"]) >= 20 and m["timed_s"] >= 0.1
    assert m["warmup_runs"] >= 2 and m["warmup_s"] >= 0.05
    assert m["control"]["ci_target_pct"] == 50.0 and m["control"]["max_s"] == 5.0
    start, end = m["timed_window_monotonic_ns"]
    assert 0 < start < end
    s = result["settings"]
    assert s["graph_optimization_level"] == "GraphOptimizationLevel.ORT_ENABLE_BASIC"
    assert s["inter_op_num_threads"] == 1 and s["providers"] == ["CPUExecutionProvider"]
    assert s["cpu_affinity"] == [cpu] and s["cpus_allowed"] == [cpu]
    assert s["memory_limit_mb"] == 4096 and "RLIMIT_AS" in s["memory_limit"]
    assert 0 < result["empty_rss_bytes"] <= result["baseline_rss_bytes"]
    assert 0 < result["load_peak_rss_bytes"] <= result["peak_rss_bytes"]
    assert 0 < result["inference_peak_rss_bytes"] <= result["peak_rss_bytes"]
    assert "VmHWM" in result["memory_method"] or "ru_maxrss" in result["memory_method"]
    assert result["samples_buffer_bytes"] >= 8 * len(result["samples_ns"])


def test_unavailable_provider_and_bad_affinity_are_one_line_errors(files: dict) -> None:
    base = {"runtime": "onnxruntime", "artifact_path": files["model"], "inputs_path": files["inputs"],
            "threads": None, "warmup": 0, "iterations": 1, "return_outputs": False}
    result = run_worker({**base, "runtime_settings": {"providers": ["NoSuchExecutionProvider"]}})
    assert result["error"].startswith("loading the onnxruntime model failed: ValueError: execution "
                                      "provider(s) NoSuchExecutionProvider not in this onnxruntime build")
    result = run_worker({**base, "cpu_affinity": [4095]})
    assert result["error"].startswith("applying cpu_affinity failed: ValueError: cannot pin to CPUs [4095]")
