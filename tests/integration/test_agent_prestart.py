"""Fork servers started ahead of their first run (``POST /v1/workers/prestart``, issue 11), on real
agent processes and real runtimes: a prestarted runtime's first run reports no server start, a run
waits for every server still importing (no import beside a timed run), and no server starts while
a run is in progress."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from test_agent_forkserver import _files

from agent_fixtures import Agent, start_agent, stop_agent
from testbed_agent.supervisor import WorkerRunner

pytestmark = pytest.mark.integration


def _servers_of(pid: int) -> list[str]:
    """The runtimes of the fork servers running under process ``pid``."""
    out = []
    for child in psutil.Process(pid).children(recursive=False):
        cmd = child.cmdline()
        if "testbed_agent.forkserver" in cmd:
            out.append(cmd[cmd.index("testbed_agent.forkserver") + 1])
    return out


def _wait_ready(agent: Agent, runtime: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = agent.call("GET", "/v1/workers").json()["workers"]
        if (workers.get(runtime) or {}).get("state") in ("ready", "failed"):
            return workers[runtime]
        time.sleep(0.05)
    raise AssertionError(f"the {runtime} fork server was not ready within {timeout_s} s")


@pytest.fixture()
def fresh_agent(tmp_path: Path) -> Iterator[Agent]:
    started = start_agent(tmp_path / "store", args=["--run-timeout-s", "120"])
    yield started
    stop_agent(started)


def test_prestarted_runtime_reports_no_server_start_on_its_first_run(fresh_agent: Agent, dense_model,
                                                                      dense_inputs) -> None:
    agent = fresh_agent
    assert agent.call("GET", "/v1/workers").json()["workers"] == {}  # nothing started before asked
    resp = agent.call("POST", "/v1/workers/prestart", json={"runtimes": ["onnxruntime"]})
    assert resp.status_code == 202, resp.text
    assert resp.json()["workers"]["onnxruntime"]["state"] in ("starting", "ready")
    ready = _wait_ready(agent, "onnxruntime")
    assert ready["state"] == "ready" and ready["prestarted"] is True and ready["start_s"] > 0
    assert _servers_of(agent.proc.pid) == ["onnxruntime"]
    run = agent.run(artifact_sha256=agent.upload(dense_model("onnxruntime")),
                    inputs_sha256=agent.upload(dense_inputs[0]), runtime="onnxruntime",
                    warmup=2, iterations=20, return_outputs=True)
    assert run["state"] == "done", run["error"]
    result = run["result"]
    assert result["phases_s"]["server_start"] == 0.0, result["phases_s"]
    assert result["worker"]["start"] == "forkserver" and result["worker"]["server_prestarted"] is True
    # asking again starts nothing new
    again = agent.call("POST", "/v1/workers/prestart", json={"runtimes": ["onnxruntime"]}).json()
    assert again["workers"]["onnxruntime"]["state"] == "ready"
    assert _servers_of(agent.proc.pid) == ["onnxruntime"]


def test_prestart_refuses_unknown_runtimes_and_malformed_bodies(fresh_agent: Agent) -> None:
    agent = fresh_agent
    unknown = agent.call("POST", "/v1/workers/prestart", json={"runtimes": ["tensorflw"]})
    assert unknown.status_code == 400 and "unknown runtime 'tensorflw'" in unknown.json()["error"]
    for body in ({"runtime": "litert"}, {"runtimes": "litert"}, {"runtimes": [1]}, [1]):
        resp = agent.call("POST", "/v1/workers/prestart", json=body)
        assert resp.status_code == 400, (body, resp.text)
    assert agent.call("POST", "/v1/workers/prestart", token="wrong", json={"runtimes": []}).status_code == 401
    assert agent.call("GET", "/v1/workers").json()["workers"] == {}


def test_a_run_waits_for_servers_still_starting_and_none_starts_during_a_run(tmp_path: Path) -> None:
    """The honesty rule on a small board: no import beside a timed run, in either order."""
    small = _files(tmp_path, "small", 8, 5)
    runner = WorkerRunner(cwd=tmp_path)
    try:
        # a prestart, then at once a run: the run waits for the server and counts the wait
        runner.prestart(["onnxruntime"])
        first = runner.run(small, 120)
        assert first.error is None, first.stderr_tail
        assert first.worker["server_prestarted"] is True
        assert runner.status()["onnxruntime"]["state"] == "ready"
        # a run in progress (it sleeps 2 s): a prestart asked meanwhile waits for its end
        done: dict[str, object] = {}
        thread = threading.Thread(target=lambda: done.update(out=runner.run({**small, "debug_sleep_s": 2.0},
                                                                             120)))
        thread.start()
        time.sleep(0.5)
        states = runner.prestart(["litert"])
        assert states["litert"]["state"] == "starting"
        time.sleep(1.0)
        assert thread.is_alive() and runner.status()["litert"]["state"] == "starting"
        assert "litert" not in _servers_of(os.getpid())  # not even started: waits for the run
        thread.join(60)
        after = done["out"]
        assert getattr(after, "error", None) is None
        second = runner.run(small, 120)  # waits for litert's server before it starts
        assert second.error is None and runner.status()["litert"]["state"] in ("ready", "failed")
    finally:
        runner.kill()
        runner.close()
