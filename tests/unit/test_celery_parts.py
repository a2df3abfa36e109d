"""The Celery executor's parts that need no broker: the lab settings (environment over the lab file,
one error for a bad one), a cell's time limit from the plan and the profile, and the idempotent commit
(a cell is stored at most once; a redelivered, finished cell is not run again). The real broker, worker
and PostgreSQL: tests/integration/test_celery_executor.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from testbed import records
from testbed.engine.celery_app import OnceStore, queue_of, run_cell, settings
from testbed.engine.celery_executor import SLACK_S, cell_time_limit
from testbed.engine.plan import from_dict
from testbed.errors import ConfigError
from testbed.profiles import Profile

BOARD = {"id": "b1", "transport": "local", "runtimes": ["onnxruntime"], "agent": {"start_timeout_s": 20},
         "measure": {"timeout_s": 100}}


@pytest.fixture()
def no_lab_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("TESTBED_BROKER", "TESTBED_DB", "TESTBED_VISIBILITY_TIMEOUT_S", "TESTBED_CELL_PREPARE_S"):
        monkeypatch.delenv(name, raising=False)
    lab = tmp_path / "lab.yaml"
    monkeypatch.setenv("TESTBED_LAB", str(lab))
    return lab


def test_settings_come_from_the_environment_over_the_lab_file(no_lab_env: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no Celery broker: give --broker"):
        settings()
    no_lab_env.write_text("broker: redis://lab:6379/0\ndb: postgresql+psycopg://lab/testbed\nvisibility_timeout_s: 600\n")
    found = settings()
    assert (found.broker, found.db, found.visibility_timeout_s) == ("redis://lab:6379/0", "postgresql+psycopg://lab/testbed", 600)
    monkeypatch.setenv("TESTBED_BROKER", "redis://other:6379/1")
    monkeypatch.setenv("TESTBED_CELL_PREPARE_S", "30")
    assert (settings().broker, settings().prepare_s) == ("redis://other:6379/1", 30)
    assert settings(broker="redis://arg:6379/0", db="sqlite:///x.db").db == "sqlite:///x.db"
    no_lab_env.write_text("broker: redis://lab:6379/0\nbrokr: typo\n")
    with pytest.raises(ConfigError, match="lab file .*lab.yaml"):
        settings()
    assert queue_of("rpi5-a") == "board.rpi5-a"


def test_a_cells_time_limit_covers_every_attempt_of_it() -> None:
    profile = Profile.model_validate(BOARD)
    cell = SimpleNamespace(threads=None, repeats=3)
    plan = from_dict({"devices": ["b1"], "models": ["digits_cnn"], "execution": {
        "retries": 1, "backoff_s": 2, "health_timeout_s": 10, "cell_timeout_s": 400, "on_busy": "skip"}})
    # two attempts of (health 10 + agent start 20 + 3 runs x 400 s), twice the 2 s backoff, the slack
    assert cell_time_limit(plan, profile, cell) == 2 * (10 + 20 + 3 * 400) + 2 * 2 + SLACK_S
    waits = plan.model_copy(update={"execution": plan.execution.model_copy(update={"on_busy": "wait"})})
    assert cell_time_limit(waits, profile, cell) == cell_time_limit(plan, profile, cell) + plan.execution.lease_wait_s


def _run_with_one_cell(store: OnceStore) -> int:
    cell = {"key": "b1/digits_cnn/onnx-torch-fp32/tdefault", "device": "b1", "model": "digits_cnn",
            "converter": "onnx-torch-fp32", "format": "onnx", "source": "pytorch", "quantization": "fp32",
            "runtime": "onnxruntime", "threads": None, "repeats": 1}
    plan = from_dict({"devices": ["b1"], "models": ["digits_cnn"], "engine": "celery"})
    store.create_plan_run("r1", "p", plan.to_json(), plan.sha256(), "host", "0", [cell], ["b1"])
    return store.plan_cells("r1")[0].id


def test_a_cell_is_stored_once_and_a_finished_one_is_not_run_again(tmp_path: Path) -> None:
    store = OnceStore(f"sqlite:///{tmp_path / 'r.db'}")
    cell_id = _run_with_one_cell(store)
    dep = store.start_deployment("b1", "digits_cnn", "0")
    art = SimpleNamespace(model="digits_cnn", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                          quantization="fp32", runtime="onnxruntime", status="ok", error=None, size_bytes=1,
                          sha256="0" * 64, conversion_s=1.0, tool_versions={}, extra={})
    record = records.base_record(art, "b1", dep)
    store.finish_cell(cell_id, "done", None, dep, [(record, [1000, 2000], [])])
    store.finish_cell(cell_id, "failed", "a second delivery", dep, [(record, [3000], [])])  # dropped
    (cell,) = store.plan_cells("r1")
    assert (cell.state, cell.error, len(store.cell_results([cell_id])[cell_id])) == ("done", None, 1)
    # a redelivered message of a finished cell: its state, and no board is touched (b1 has no profile)
    assert run_cell("r1", cell_id, store) == "done"
    with pytest.raises(ConfigError, match="run r2 is not in the store"):
        run_cell("r2", cell_id, store)


def test_a_cell_of_a_run_that_ended_is_not_run(tmp_path: Path) -> None:
    store = OnceStore(f"sqlite:///{tmp_path / 'r.db'}")
    cell_id = _run_with_one_cell(store)
    store.finish_plan_run("r1", "interrupted")
    # handed out again after its run ended (b1 has no profile: nothing may touch a board)
    assert run_cell("r1", cell_id, store) == "not run: its run is interrupted"
    assert store.plan_cells("r1")[0].state == "pending"


def test_a_bad_lab_file_key_is_named(no_lab_env: Path) -> None:
    no_lab_env.write_text("broker: redis://lab:6379/0\nvisibility_timeout_s: -5\n")
    with pytest.raises(ConfigError, match=r"key 'visibility_timeout_s': .*greater than 0 \(the keys: broker, db"):
        settings()
    no_lab_env.write_text("broker: redis://lab:6379/0\nbrokr: typo\n")
    with pytest.raises(ConfigError, match="key 'brokr': Extra inputs are not permitted"):
        settings()
