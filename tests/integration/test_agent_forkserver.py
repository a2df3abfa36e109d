"""Fresh workers from fork servers (issue 11) on real runtimes and real processes: memory figures
that depend neither on the process that spawned the worker nor on what ran before, the time of a
run split by phase, cached idle power baselines, and a crash inside a forked worker.

Memory tolerance: the same model measured twice in fresh workers differs by what the allocator
and the runtime do differently from one process to the next - observed here under 1 MB for every
figure (baseline, load and inference peaks, whole-worker peak). 4 MB leaves room for that on a
loaded machine and is still far below what is tested against: 200 MB added to the spawning
process and 3 runs of a 64 MB model in between (and the 30 MB climb of issue 11).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent_fixtures import Agent
from testbed_agent.supervisor import WorkerRunner

pytestmark = pytest.mark.integration

MB = 1024 * 1024
TOLERANCE = 4 * MB
FIGURES = ("baseline_rss_bytes", "load_peak_rss_bytes", "inference_peak_rss_bytes", "peak_rss_bytes")


def _dense_onnx(w: np.ndarray, b: np.ndarray) -> bytes:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _files(tmp_path: Path, name: str, rows: int, cols: int) -> dict[str, str]:
    """A dense ONNX model ``[1, rows] @ [rows, cols]`` and its inputs, as a worker request."""
    rng = np.random.default_rng(rows)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    (tmp_path / f"{name}.onnx").write_bytes(_dense_onnx(w, b))
    x = rng.standard_normal((1, rows)).astype(np.float32)
    np.savez(tmp_path / f"{name}.npz", timing=x, eval=np.repeat(x, 4, axis=0))
    return {"runtime": "onnxruntime", "artifact_path": str(tmp_path / f"{name}.onnx"),
            "inputs_path": str(tmp_path / f"{name}.npz"), "threads": 1, "warmup": 2,
            "iterations": 50, "return_outputs": True}


@pytest.mark.parametrize("fork", [True, False], ids=["forkserver", "exec"])
def test_memory_does_not_depend_on_the_spawner_or_earlier_runs(tmp_path: Path, fork: bool) -> None:
    """Issue 11: the whole-worker peak climbed row after row because ``ru_maxrss`` carried the
    agent's own peak into every worker it spawned (exec keeps it), and the agent grew run by run.
    Here this test process is the agent: it grows by 200 MB and runs a 64 MB model three times
    between two measurements of a small one; the small one's figures stay put."""
    small = _files(tmp_path, "small", 8, 5)
    big = _files(tmp_path, "big", 4096, 4096)  # 64 MB of weights
    runner = WorkerRunner(cwd=tmp_path, fork=fork)
    try:
        first = runner.run(small, 120)
        assert first.error is None, first.stderr_tail
        ballast = np.ones(200 * MB // 8)  # resident: every page written
        for _ in range(3):
            outcome = runner.run(big, 120)
            assert outcome.error is None, outcome.stderr_tail
            assert outcome.result is not None
            assert outcome.result["load_peak_rss_bytes"] - outcome.result["baseline_rss_bytes"] > 60 * MB
        again = runner.run(small, 120)
        assert again.error is None, again.stderr_tail
        del ballast
    finally:
        runner.kill()
        runner.close()
    assert first.result is not None and again.result is not None
    assert again.result["worker"]["start"] == ("forkserver" if fork else "exec")
    for key in FIGURES:
        assert abs(again.result[key] - first.result[key]) < TOLERANCE, (key, first.result[key],
                                                                        again.result[key])
    assert again.result["peak_rss_bytes"] < 200 * MB  # the spawner's ballast is not in it
    assert "VmHWM" in again.result["memory_method"]


def test_forked_and_execd_workers_agree_on_memory(tmp_path: Path) -> None:
    """The fork server maps the runtime's resident library pages into each worker before its
    baseline (see ``forkserver``): the model's memory is the same as in a new interpreter."""
    small = _files(tmp_path, "small", 256, 64)
    figures = {}
    for fork in (True, False):
        runner = WorkerRunner(cwd=tmp_path, fork=fork)
        try:
            result = runner.run(small, 120).result
        finally:
            runner.close()
        assert result is not None
        figures[fork] = result
    model = {fork: max(r["load_peak_rss_bytes"], r["inference_peak_rss_bytes"]) - r["baseline_rss_bytes"]
             for fork, r in figures.items()}
    assert abs(model[True] - model[False]) < TOLERANCE, model
    assert abs(figures[True]["baseline_rss_bytes"] - figures[False]["baseline_rss_bytes"]) < 4 * TOLERANCE


def test_phases_sum_to_the_run_and_the_server_starts_once(agent: Agent, dense_model, dense_inputs) -> None:
    request = {"artifact_sha256": agent.upload(dense_model("onnxruntime")),
               "inputs_sha256": agent.upload(dense_inputs[0]), "runtime": "onnxruntime",
               "warmup": 2, "iterations": 20, "return_outputs": True}
    runs = [agent.run(**request) for _ in range(3)]
    for run in runs:
        assert run["state"] == "done", run["error"]
        result = run["result"]
        phases = result["phases_s"]
        assert result["worker"]["start"] == "forkserver", result["worker"]
        for name in ("worker_start", "setup", "runtime_import", "load", "first_inference", "warmup",
                     "measure", "eval", "worker_exit", "agent"):
            assert phases[name] >= 0, (name, phases)
        assert sum(phases.values()) == pytest.approx(result["wall_s"], abs=1e-5)
        assert phases["agent"] < 0.5 * result["wall_s"] + 0.05, phases  # little time unaccounted
        assert phases["runtime_import"] < 0.5  # imported in the server, not per run
    assert [r["result"]["phases_s"]["server_start"] > 0 for r in runs[1:]] == [False, False]


def test_idle_baseline_is_measured_once_and_reused_while_it_holds(agent: Agent, dense_model,
                                                                   dense_inputs) -> None:
    """A power block with an idle window: the first run measures the idle baseline, the next
    ones with the same sensor settings reuse it (no idle window, the record names the run that
    measured it and its age); ``idle_valid_s: 0`` measures it every time."""
    power = {"sensor": "estimate", "rate_hz": 50, "idle_window_s": 0.3, "idle_valid_s": 60,
             "settings": {"idle_w": 10.0, "max_w": 45.0}}
    request = {"artifact_sha256": agent.upload(dense_model("onnxruntime")),
               "inputs_sha256": agent.upload(dense_inputs[0]), "runtime": "onnxruntime",
               "warmup": 2, "iterations": 20, "min_time_s": 0.2, "return_outputs": False,
               "power": power}
    first, second, third = (agent.run(**request) for _ in range(3))
    for run in (first, second, third):
        assert run["state"] == "done", run["error"]
    measured, reused = first["result"]["power"], second["result"]["power"]
    if measured["missing_reason"] is not None:
        pytest.skip(f"no estimate here: {measured['missing_reason']}")
    assert measured["idle_source"] == "measured" and measured["idle_w"] is not None
    assert first["result"]["phases_s"]["power_idle"] >= 0.3
    assert reused["idle_source"] == "cached" and reused["idle_w"] == measured["idle_w"]
    assert reused["idle_baseline"]["run_id"] == first["id"]
    assert 0 < reused["idle_baseline"]["age_s"] < 60
    assert reused["idle_window_ns"] == measured["idle_window_ns"]
    assert reused["energy_mj_per_inference"] is not None
    assert second["result"]["phases_s"]["power_idle"] < 0.1
    assert third["result"]["power"]["idle_baseline"]["run_id"] == first["id"]
    fresh = agent.run(**{**request, "power": {**power, "idle_valid_s": 0}})
    assert fresh["result"]["power"]["idle_source"] == "measured"
    assert fresh["result"]["phases_s"]["power_idle"] >= 0.3


def test_crash_in_a_forked_worker_leaves_the_server_serving(tmp_path: Path) -> None:
    small = _files(tmp_path, "small", 8, 5)
    runner = WorkerRunner(cwd=tmp_path)
    try:
        assert runner.run(small, 120).error is None
        crashed = runner.run({**small, "debug_crash": "segfault"}, 120)
        assert crashed.error is not None and crashed.error.startswith("worker crashed (signal 11 SIGSEGV)")
        after = runner.run(small, 120)
        assert after.error is None and after.result is not None
        assert after.result["worker"]["start"] == "forkserver" and not after.worker.get("server_start_s")
    finally:
        runner.close()
