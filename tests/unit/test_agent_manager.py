"""The run queue: one run at a time, results saved, errors become failed runs."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path
from typing import Any

from testbed_agent.manager import RunManager
from testbed_agent.runs import RUN_ID_RE, RunFiles, new_run_id
from testbed_agent.store import ArtifactStore
from testbed_agent.supervisor import WorkerOutcome


class FakeRunner:
    """Stands in for WorkerRunner; records how many runs overlap."""

    def __init__(self, outcome: WorkerOutcome, delay_s: float = 0.05) -> None:
        self.outcome, self.delay_s = outcome, delay_s
        self.active = self.max_active = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def run(self, request: dict[str, Any], timeout_s: float) -> WorkerOutcome:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.requests.append(request)
        time.sleep(self.delay_s)
        with self._lock:
            self.active -= 1
        return self.outcome

    def kill(self) -> None:
        pass


def setup(tmp_path: Path, outcome: WorkerOutcome) -> tuple[RunManager, FakeRunner, dict[str, Any]]:
    store = ArtifactStore(tmp_path)
    shas = {}
    for name in ("model", "inputs"):
        data = name.encode()
        shas[name] = hashlib.sha256(data).hexdigest()
        store.put(shas[name], io.BytesIO(data))
    runner = FakeRunner(outcome)
    manager = RunManager(store, RunFiles(tmp_path), runner)  # type: ignore[arg-type]
    manager.start()
    request = {"artifact_sha256": shas["model"], "inputs_sha256": shas["inputs"], "runtime": "litert",
               "threads": None, "warmup": 1, "iterations": 2, "timeout_s": 5.0, "return_outputs": True}
    return manager, runner, request


def wait(manager: RunManager, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        run = manager.get(run_id)
        assert run is not None
        if run["state"] in ("done", "failed"):
            return run
        time.sleep(0.02)
    raise AssertionError("run did not finish")


def test_one_at_a_time_and_saved(tmp_path: Path) -> None:
    manager, runner, request = setup(tmp_path, WorkerOutcome({"samples_ns": [1], "outputs_npy_b64": "x"},
                                                             None, ""))
    ids = [manager.submit(request).id for _ in range(4)]
    runs = [wait(manager, i) for i in ids]
    assert runner.max_active == 1 and all(r["state"] == "done" for r in runs)
    assert runner.requests[0]["artifact_path"].endswith(request["artifact_sha256"])
    assert "timeout_s" not in runner.requests[0]
    assert RunFiles(tmp_path).load(ids[0]).result == {"samples_ns": [1], "outputs_npy_b64": "x"}
    listed = manager.recent()
    assert [r["id"] for r in listed] == ids[::-1]
    assert listed[0]["result"] == {"samples_ns": [1]}
    manager.shutdown()


def test_worker_error_result_fails_the_run(tmp_path: Path) -> None:
    manager, _, request = setup(tmp_path, WorkerOutcome({"error": "loading failed: bad"}, None, "tail"))
    run = wait(manager, manager.submit(request).id)
    assert (run["state"], run["error"], run["result"], run["stderr_tail"]) == \
        ("failed", "loading failed: bad", None, "tail")
    manager.shutdown()


def test_artifact_gone_before_run(tmp_path: Path) -> None:
    manager, runner, request = setup(tmp_path, WorkerOutcome({}, None, ""))
    (tmp_path / "artifacts" / request["artifact_sha256"]).unlink()
    run = wait(manager, manager.submit(request).id)
    assert run["state"] == "failed" and "send it first" in run["error"] and runner.requests == []
    manager.shutdown()


def test_run_ids_sort_by_time() -> None:
    first = new_run_id()
    time.sleep(0.002)
    second = new_run_id()
    assert RUN_ID_RE.match(first) and first < second
