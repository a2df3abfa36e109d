"""The device agent over real HTTP: a real ``testbed-agent serve`` process, real models.

Covers auth, artifact upload/verification, a run per runtime checked against numpy, corrupt
artifacts, a hung worker killed at its timeout, shutdown and restart on the same store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from agent_fixtures import Agent, decode_npy, leftover_workers, start_agent, stop_agent
from testbed_agent.schema import SCHEMA_VERSION, AgentInfo, RunResult

pytestmark = pytest.mark.integration
UNAUTHORIZED = "missing or wrong agent token; pass the token the agent was started with"
RUNTIMES = ["onnxruntime", "litert", "executorch"]


def _run_request(agent: Agent, model: bytes, inputs: bytes, runtime: str, **extra: object) -> dict:
    request = {"artifact_sha256": agent.upload(model), "inputs_sha256": agent.upload(inputs),
               "runtime": runtime, "warmup": 2, "iterations": 5, "schema": SCHEMA_VERSION}  # as the host sends it
    request.update(extra)
    return request


def test_health_needs_no_token(agent: Agent) -> None:
    resp = agent.call("GET", "/v1/health", token=None)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": "0.1.0", "schema": SCHEMA_VERSION}


@pytest.mark.parametrize("token", [None, "wrong-token"])
@pytest.mark.parametrize("method,path", [("GET", "/v1/info"), ("POST", "/v1/runs"),
                                         ("GET", "/v1/runs"), ("GET", "/v1/artifacts/" + "0" * 64)])
def test_routes_need_the_token(agent: Agent, token: str | None, method: str, path: str) -> None:
    resp = agent.call(method, path, token=token, json={})
    assert resp.status_code == 401
    assert resp.json() == {"error": UNAUTHORIZED, "schema": SCHEMA_VERSION}  # every answer says its schema


def test_info(agent: Agent) -> None:
    info = agent.call("GET", "/v1/info").json()
    for key in ("agent_version", "hostname", "machine", "cpu", "cores", "memory_bytes", "os", "python"):
        assert key in info
    assert info["cores"] >= 1 and info["memory_bytes"] > 0
    assert info["schema"] == SCHEMA_VERSION and AgentInfo.from_wire(info).schema == SCHEMA_VERSION
    assert set(RUNTIMES) <= set(info["runtimes"])  # others (e.g. executorch-native) may be listed
    for name in RUNTIMES:
        probe = info["runtimes"][name]
        assert probe["available"] is True and probe["version"] and probe["reason"] is None


def test_upload_with_wrong_sha_is_refused(agent: Agent) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    resp = agent.call("PUT", f"/v1/artifacts/{wrong}", data=b"payload")
    assert resp.status_code == 400 and "nothing was stored" in resp.json()["error"]
    assert agent.call("GET", f"/v1/artifacts/{wrong}").status_code == 404
    assert not (agent.store / "artifacts" / wrong).exists()


def test_upload_then_get(agent: Agent) -> None:
    sha = agent.upload(b"abc" * 1000)
    assert agent.call("GET", f"/v1/artifacts/{sha}").json() == {"sha256": sha, "size_bytes": 3000,
                                                                "schema": SCHEMA_VERSION}


def test_dropped_corrupt_file_is_removed(agent: Agent) -> None:
    sha = hashlib.sha256(b"the real content").hexdigest()
    dropped = agent.store / "artifacts" / sha
    dropped.write_bytes(b"half an sftp upload")
    resp = agent.call("GET", f"/v1/artifacts/{sha}")
    assert resp.status_code == 404
    assert "was corrupt (sha256 mismatch) and was removed; send it again" in resp.json()["error"]
    assert not dropped.exists()
    dropped.write_bytes(b"the real content")  # a good drop is accepted
    assert agent.call("GET", f"/v1/artifacts/{sha}").status_code == 200


def test_bad_run_requests(agent: Agent, dense_inputs: tuple) -> None:
    inputs_sha = agent.upload(dense_inputs[0])
    missing = "f" * 64
    cases = [
        ({"artifact_sha256": missing, "inputs_sha256": inputs_sha, "runtime": "tvm"}, 400, "unknown runtime"),
        ({"artifact_sha256": missing, "inputs_sha256": inputs_sha, "runtime": "onnxruntime"}, 404, "send it first"),
        ({"artifact_sha256": "xyz", "inputs_sha256": inputs_sha, "runtime": "onnxruntime"}, 400, "sha256"),
        ({"artifact_sha256": missing, "inputs_sha256": inputs_sha, "runtime": "onnxruntime",
          "iterations": 0}, 400, "iterations"),
        ({"artifact_sha256": missing, "runtime": "onnxruntime", "iteration": 5}, 400, "iteration"),
        ([1, 2], 400, "JSON object"),
        # a host of a newer schema: 426 and one line naming the side to upgrade
        ({"schema": SCHEMA_VERSION + 1, "artifact_sha256": missing, "inputs_sha256": inputs_sha,
          "runtime": "onnxruntime", "tensors": []}, 426,
         f"host speaks schema {SCHEMA_VERSION + 1}, agent speaks {SCHEMA_VERSION}: upgrade the agent"),
    ]
    for body, status, text in cases:
        resp = agent.call("POST", "/v1/runs", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert text in resp.json()["error"]
    assert agent.call("GET", "/v1/runs/nope").status_code == 404


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_run_matches_numpy(agent: Agent, runtime: str, dense_model, dense_inputs, dense_weights) -> None:
    inputs, timing, evals = dense_inputs
    w, b = dense_weights
    run = agent.run(**_run_request(agent, dense_model(runtime), inputs, runtime, threads=1))
    assert run["state"] == "done", run["error"]
    result = run["result"]
    assert result["runtime"] == runtime and result["runner"] == "python"
    # the contract: every runtime answers the schema's typed shape, with the agent's run id
    assert list(result) == ["schema", *RunResult.FIELDS] and RunResult.from_wire(result).run_id == run["id"]
    assert result["threads"] == 1 and result["settings"]
    assert len(result["samples_ns"]) == 5 and all(isinstance(s, int) and s > 0 for s in result["samples_ns"])
    assert result["warmup"] == 2 and result["iterations"] == 5
    assert result["load_ms"] > 0 and result["first_inference_ms"] > 0
    assert 0 < result["baseline_rss_bytes"] <= result["peak_rss_bytes"]
    assert result["load_peak_rss_bytes"] <= result["peak_rss_bytes"]
    assert result["artifact_size_bytes"] == len(dense_model(runtime))
    outputs = decode_npy(result["outputs_npy_b64"])
    assert outputs.dtype == np.float32 and outputs.shape == (len(evals), w.shape[1])
    np.testing.assert_allclose(outputs, evals @ w + b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(decode_npy(result["timing_output_npy_b64"]).reshape(1, -1),
                               timing @ w + b, rtol=1e-4, atol=1e-5)
    listed = agent.call("GET", "/v1/runs").json()
    assert listed[0]["id"] == run["id"] and "outputs_npy_b64" not in listed[0]["result"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_corrupt_artifact_fails_cleanly(agent: Agent, runtime: str, dense_model, dense_inputs) -> None:
    garbage = np.random.default_rng(3).bytes(4096)
    run = agent.run(**_run_request(agent, garbage, dense_inputs[0], runtime))
    assert run["state"] == "failed" and run["result"] is None
    assert run["error"] and "\n" not in run["error"]
    assert runtime in run["error"] or "worker crashed" in run["error"]
    assert agent.call("GET", "/v1/health").json()["status"] == "ok"
    # The agent is unharmed: the next good run succeeds (onnxruntime: the fastest worker start).
    good = agent.run(**_run_request(agent, dense_model("onnxruntime"), dense_inputs[0], "onnxruntime"))
    assert good["state"] == "done", good["error"]


def test_hung_run_is_killed_at_timeout(agent: Agent, dense_model, dense_inputs) -> None:
    request = _run_request(agent, dense_model("onnxruntime"), dense_inputs[0], "onnxruntime")
    started = time.monotonic()
    run = agent.run(**request, timeout_s=1.5, debug_sleep_s=60)
    assert time.monotonic() - started < 20
    assert run["state"] == "failed"
    assert run["error"] == ("inference timed out after 1.5 s (worker killed); "
                            "raise timeout_s or check the model")
    time.sleep(0.2)
    assert leftover_workers(agent) == []  # the fork servers stay, without children
    assert agent.run(**request)["state"] == "done"


def test_runs_execute_one_at_a_time(agent: Agent, dense_model, dense_inputs) -> None:
    request = _run_request(agent, dense_model("onnxruntime"), dense_inputs[0], "onnxruntime",
                           debug_sleep_s=0.5)
    ids = [agent.call("POST", "/v1/runs", json=request).json()["id"] for _ in range(3)]
    time.sleep(0.3)
    states = [agent.call("GET", f"/v1/runs/{i}").json()["state"] for i in ids]
    assert states.count("running") <= 1 and "queued" in states
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = [agent.call("GET", f"/v1/runs/{i}").json() for i in ids]
        if all(r["state"] == "done" for r in runs):
            break
        time.sleep(0.2)
    runs.sort(key=lambda r: r["started_at"])
    for before, after in zip(runs, runs[1:]):
        assert before["finished_at"] <= after["started_at"]


def test_shutdown_and_restart_keep_runs(tmp_path: Path, dense_model, dense_inputs) -> None:
    store, state_file = tmp_path / "store", tmp_path / "agent.json"
    first = start_agent(store, env={"TESTBED_AGENT_ALLOW_DEBUG": "1"},
                        args=["--state-file", str(state_file)])
    try:
        state = json.loads(state_file.read_text())
        assert state["pid"] == first.proc.pid and first.url.endswith(f":{state['port']}")
        assert state["version"] == "0.1.0" and Path(state["store"]) == store.resolve()
        request = _run_request(first, dense_model("onnxruntime"), dense_inputs[0], "onnxruntime")
        done = first.run(**request)
        hung = first.call("POST", "/v1/runs", json={**request, "debug_sleep_s": 60}).json()["id"]
        while first.call("GET", f"/v1/runs/{hung}").json()["state"] != "running":
            time.sleep(0.05)
        worker_pids = [p.pid for p in psutil.Process(first.proc.pid).children(recursive=True)]
        assert worker_pids
        started = time.monotonic()
        assert stop_agent(first) == 0
        assert time.monotonic() - started < 5
        assert not state_file.exists()
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                       for p in worker_pids)
    finally:
        stop_agent(first)
    second = start_agent(store)  # no debug env this time
    try:
        again = second.call("GET", f"/v1/runs/{done['id']}").json()
        assert again["state"] == "done" and again["result"]["samples_ns"] == done["result"]["samples_ns"]
        killed = second.call("GET", f"/v1/runs/{hung}").json()
        assert killed["state"] == "failed" and "shut down" in killed["error"]
        assert {r["id"] for r in second.call("GET", "/v1/runs").json()} >= {done["id"], hung}
        resp = second.call("POST", "/v1/runs", json={**request, "debug_sleep_s": 1})
        assert resp.status_code == 400 and "TESTBED_AGENT_ALLOW_DEBUG" in resp.json()["error"]
    finally:
        stop_agent(second)


def test_agent_refuses_to_start_without_token(tmp_path: Path) -> None:
    import subprocess

    from agent_fixtures import agent_command

    env = {k: v for k, v in os.environ.items() if k != "TESTBED_AGENT_TOKEN"}
    proc = subprocess.run(agent_command() + ["serve", "--port", "0", "--store", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "no agent token" in proc.stderr
