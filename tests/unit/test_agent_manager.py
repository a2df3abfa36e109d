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
from testbed_agent.schema import RunResult
from testbed_agent.store import ArtifactStore
from testbed_agent.supervisor import WorkerOutcome
from testbed_agent.thermal import ThermalReader

THERMAL = Path(__file__).resolve().parent.parent / "fixtures" / "thermal"


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


def fake_result(**extra: Any) -> dict[str, Any]:
    """A worker result of the typed shape (``schema.RunResult``): what every runtime answers."""
    return RunResult(runtime="litert", runtime_version="1.0", runner="python", threads=None,
                     settings={}, artifact_size_bytes=5, load_ms=1.0, first_inference_ms=1.0,
                     warmup=1, iterations=2, min_time_s=0.0, measurement={}, power=None,
                     samples_ns=[1], baseline_rss_bytes=1, load_peak_rss_bytes=1,
                     inference_peak_rss_bytes=1, peak_rss_bytes=1, samples_buffer_bytes=8,
                     memory_method="test", **extra).to_wire()


def setup(tmp_path: Path, outcome: WorkerOutcome, thermal: str = "none"
          ) -> tuple[RunManager, FakeRunner, dict[str, Any]]:
    store = ArtifactStore(tmp_path)
    shas = {}
    for name in ("model", "inputs"):
        data = name.encode()
        shas[name] = hashlib.sha256(data).hexdigest()
        store.put(shas[name], io.BytesIO(data))
    runner = FakeRunner(outcome)
    manager = RunManager(store, RunFiles(tmp_path), runner,  # type: ignore[arg-type]
                         thermal=ThermalReader(str(THERMAL / thermal)))
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
    manager, runner, request = setup(tmp_path, WorkerOutcome(fake_result(outputs_npy_b64="x"),
                                                             None, ""))
    ids = [manager.submit(request).id for _ in range(4)]
    runs = [wait(manager, i) for i in ids]
    assert runner.max_active == 1 and all(r["state"] == "done" for r in runs)
    assert runner.requests[0]["artifact_path"].endswith(request["artifact_sha256"])
    assert "timeout_s" not in runner.requests[0]
    saved = RunFiles(tmp_path).load(ids[0]).result
    assert saved["samples_ns"] == [1] and saved["outputs_npy_b64"] == "x"
    assert saved["thermal"]["available"] is False  # the "none" fixture: like this machine
    assert saved["thermal"]["status"].startswith("not available: no /sys/class/thermal")
    listed = manager.recent()
    assert [r["id"] for r in listed] == ids[::-1]
    assert "outputs_npy_b64" not in listed[0]["result"] and listed[0]["result"]["samples_ns"] == [1]
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


def test_new_fields_reach_the_worker(tmp_path: Path) -> None:
    manager, runner, request = setup(tmp_path, WorkerOutcome(fake_result(), None, ""))
    request.update(warmup_min_s=0.5, min_time_s=1.0, max_time_s=9.0, ci_target_pct=2.0,
                   runtime_settings={"xnnpack": False}, cpu_affinity=[0],
                   memory_limit_mb=512, thermal=None, debug_noise={"fraction": 0.5})
    wait(manager, manager.submit(request).id)
    sent = runner.requests[0]
    for key in ("warmup_min_s", "min_time_s", "max_time_s", "ci_target_pct", "runtime_settings",
                "cpu_affinity", "memory_limit_mb", "debug_noise"):
        assert sent[key] == request[key], key
    assert "thermal" not in sent and "timeout_s" not in sent  # the agent's business
    manager.shutdown()


def test_cooldown_then_thermal_record(tmp_path: Path) -> None:
    """pi4 fixture at 48 °C: a cooldown below 60 °C is reached at once; the record has it."""
    manager, _, request = setup(tmp_path, WorkerOutcome(fake_result(), None, ""), "pi4")
    request["thermal"] = {"cooldown_below_c": 60.0, "cooldown_timeout_s": 5.0}
    run = wait(manager, manager.submit(request).id)
    thermal = run["result"]["thermal"]
    assert thermal["available"] is True and thermal["governor"] == "ondemand"
    # reached at once: no poll (a poll sleeps 1 s); reading the fixture can take a millisecond under load
    assert thermal["cooldown"]["reached"] is True and thermal["cooldown"]["waited_s"] < 0.5
    assert thermal["before"]["cpu_temp_c"] == 48.312
    manager.shutdown()


def test_out_of_memory_under_a_limit_says_so(tmp_path: Path) -> None:
    crashed = WorkerOutcome(None, "worker crashed (signal 6 SIGABRT); last stderr line: "
                            "terminate called after throwing an instance of 'std::bad_alloc'",
                            "...std::bad_alloc\n")
    manager, _, request = setup(tmp_path, crashed)
    request["memory_limit_mb"] = 256
    run = wait(manager, manager.submit(request).id)
    assert run["state"] == "failed"
    assert run["error"].startswith("exceeded the memory limit of 256 MB")
    assert "SIGABRT" in run["error"]
    # Without a limit the same crash is reported as it is.
    request["memory_limit_mb"] = None
    run = wait(manager, manager.submit(request).id)
    assert run["error"].startswith("worker crashed (signal 6 SIGABRT)")
    manager.shutdown()


def test_result_is_typed_and_keeps_the_run_id(tmp_path: Path) -> None:
    """The agent adds its run id, thermal record and phases; every field of the schema is there."""
    manager, _, request = setup(tmp_path, WorkerOutcome(fake_result(), None, ""))
    run_id = manager.submit(request).id
    result = wait(manager, run_id)["result"]
    typed = RunResult.from_wire(result)
    assert typed.run_id == run_id and typed.phases_s and typed.wall_s is not None
    assert list(result) == ["schema", *RunResult.FIELDS]
    manager.shutdown()


def test_malformed_worker_result_fails_the_run(tmp_path: Path) -> None:
    """A runtime answering another shape is a failed run naming the field, not a stored guess."""
    manager, _, request = setup(tmp_path, WorkerOutcome({"samples_ns": [1], "latency": 3}, None, ""))
    run = wait(manager, manager.submit(request).id)
    assert run["state"] == "failed" and "unknown field(s) in the run result: latency" in run["error"]
    manager.shutdown()
