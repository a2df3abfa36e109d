"""Measurement engine and isolation on a real ``testbed-agent serve`` process with real runtimes.

Adaptive stopping on a steady model and on injected noise (the test-only ``debug_noise``), a
crashing worker (a real SIGSEGV / abort(), test-only ``debug_crash``), a model that needs more
memory than its ``memory_limit_mb``, runtime settings and CPU affinity in the result, and the
thermal record of this machine. The hung-model case is in test_agent_http.py
(test_hung_run_is_killed_at_timeout). No timing assertion on this machine's speed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from agent_fixtures import IN_FEATURES, Agent, decode_npy, leftover_workers

pytestmark = pytest.mark.integration


def _request(agent: Agent, model: bytes, inputs: bytes, runtime: str = "onnxruntime",
             **extra: object) -> dict:
    request = {"artifact_sha256": agent.upload(model), "inputs_sha256": agent.upload(inputs),
               "runtime": runtime, "warmup": 2, "iterations": 5, "return_outputs": False}
    request.update(extra)
    return request


def test_steady_model_stops_on_the_ci_target(agent: Agent, dense_model, dense_inputs) -> None:
    """The interval is a rerun's, from >= 5 window medians (issue 16): ±3 % is in reach of a steady
    tiny model within 60 s even on a loaded machine; ±1 % of one window's samples no longer is the test."""
    run = agent.run(**_request(agent, dense_model("onnxruntime"), dense_inputs[0], threads=1,
                               iterations=50, warmup_min_s=0.1, max_time_s=60, ci_target_pct=3.0))
    assert run["state"] == "done", run["error"]
    m = run["result"]["measurement"]
    assert m["stop_reason"] == "ci_target_met" and m["ci_target_met"] is True
    assert m["timed_s"] < 30  # well before max_time_s; the target was met, not the limit
    assert m["last_ci"]["half_width_pct"] <= 3.0 and m["last_ci"]["windows"] >= 5
    assert m["ci_method"].startswith("prediction interval")
    assert m["last_ci"]["n"] == len(run["result"]["samples_ns"]) >= 50
    assert sum(w["n"] for w in m["windows"]) == m["last_ci"]["n"]
    assert 1 <= m["ci_checks"] <= len(m["windows"]) - 4  # checked when a window closes, from the 5th


def test_injected_noise_reports_the_target_missed(agent: Agent, dense_model, dense_inputs) -> None:
    """Half the runs get a random sleep of up to 2 ms: the median sits where clean and slowed runs
    meet, so its CI cannot shrink to ±1 % in 2 s. (With 20 % of runs slowed the median stays among
    the clean ones and the target may well be met: that is what a median is for.)"""
    run = agent.run(**_request(agent, dense_model("onnxruntime"), dense_inputs[0], threads=1,
                               iterations=20, max_time_s=2.0, ci_target_pct=1.0,
                               debug_noise={"fraction": 0.5, "max_sleep_s": 0.002, "seed": 1}))
    assert run["state"] == "done", run["error"]
    m = run["result"]["measurement"]
    assert m["stop_reason"] == "max_s_reached" and m["ci_target_met"] is False
    assert m["last_ci"]["half_width_pct"] > 1.0
    assert m["timed_s"] >= 2.0


@pytest.mark.parametrize("crash,signal_name", [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
def test_crashing_worker_then_the_next_run_succeeds(agent: Agent, dense_model, dense_inputs,
                                                    crash: str, signal_name: str) -> None:
    request = _request(agent, dense_model("onnxruntime"), dense_inputs[0])
    run = agent.run(**request, debug_crash=crash)
    assert run["state"] == "failed" and run["result"] is None
    assert run["error"].startswith(f"worker crashed (signal {6 if crash == 'abort' else 11} "
                                   f"{signal_name})")
    assert "\n" not in run["error"]
    assert agent.call("GET", "/v1/health").json()["status"] == "ok"
    assert leftover_workers(agent) == []
    assert agent.run(**request)["state"] == "done"



def _big_allocation_onnx(megabytes: int) -> bytes:
    """y = x + sum(ConstantOfShape(N)): each inference allocates an N-float tensor."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    count = megabytes * 1024 * 1024 // 4
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
         helper.make_node("Add", ["x", "s"], ["y"])],
        "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, IN_FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, IN_FEATURES])],
        [numpy_helper.from_array(np.array([count], dtype=np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_memory_limit_fails_the_run_clearly(agent: Agent, dense_model, dense_inputs) -> None:
    """A model allocating 600 MB per inference under a 400 MB limit (ONNX Runtime itself needs
    ~200 MB of address space); the agent stays up and the next (small) run succeeds."""
    run = agent.run(**_request(agent, _big_allocation_onnx(600), dense_inputs[0],
                               memory_limit_mb=400))
    assert run["state"] == "failed"
    assert run["error"].startswith("exceeded the memory limit of 400 MB"), run["error"]
    assert "\n" not in run["error"]
    good = agent.run(**_request(agent, dense_model("onnxruntime"), dense_inputs[0],
                                memory_limit_mb=400))
    assert good["state"] == "done", good["error"]
    result = good["result"]
    assert result["settings"]["memory_limit_mb"] == 400
    assert 0 < result["empty_rss_bytes"] <= result["baseline_rss_bytes"]
    assert result["inference_peak_rss_bytes"] <= result["peak_rss_bytes"]


def test_runtime_settings_and_affinity_are_applied_and_recorded(
        agent: Agent, dense_model, dense_inputs, dense_weights) -> None:
    inputs, _, evals = dense_inputs
    w, b = dense_weights
    cpu = sorted(os.sched_getaffinity(0))[-1]
    run = agent.run(**_request(agent, dense_model("litert"), inputs, "litert", threads=1,
                               return_outputs=True, cpu_affinity=[cpu],
                               runtime_settings={"xnnpack": False}))
    assert run["state"] == "done", run["error"]
    settings = run["result"]["settings"]
    assert settings["xnnpack"] is False and "BUILTIN_WITHOUT_DEFAULT_DELEGATES" in settings["op_resolver"]
    assert settings["cpu_affinity"] == [cpu] and settings["cpus_allowed"] == [cpu]
    np.testing.assert_allclose(decode_npy(run["result"]["outputs_npy_b64"]), evals @ w + b,
                               rtol=1e-4, atol=1e-5)
    ort = agent.run(**_request(agent, dense_model("onnxruntime"), inputs,
                               runtime_settings={"graph_optimization_level": "disable",
                                                 "providers": ["CPUExecutionProvider"]}))
    assert ort["state"] == "done", ort["error"]
    assert ort["result"]["settings"]["graph_optimization_level"].endswith("ORT_DISABLE_ALL")
    bad = agent.call("POST", "/v1/runs", json=_request(
        agent, dense_model("onnxruntime"), inputs, runtime_settings={"optimisation": "all"}))
    assert bad.status_code == 400 and "unknown runtime_settings for onnxruntime" in bad.json()["error"]


@pytest.mark.skipif(bool(list(Path("/sys/class/thermal").glob("thermal_zone*"))),
                    reason="this machine has thermal zones")
def test_thermal_is_not_available_here(agent: Agent, dense_model, dense_inputs) -> None:
    """This machine has an empty /sys/class/thermal and no cpufreq: the record says so and
    invents nothing; a cooldown has nothing to wait on and says that too."""
    run = agent.run(**_request(agent, dense_model("onnxruntime"), dense_inputs[0],
                               thermal={"cooldown_below_c": 60, "cooldown_timeout_s": 5}))
    assert run["state"] == "done", run["error"]
    thermal = run["result"]["thermal"]
    assert thermal["available"] is False and thermal["throttled"] is None
    assert thermal["status"].startswith("not available: no /sys/class/thermal/thermal_zone*")
    assert thermal["before"] is None and thermal["during"] is None
    assert thermal["cooldown"]["reached"] is None
    assert thermal["cooldown"]["skipped"].startswith("no CPU temperature to wait on")
