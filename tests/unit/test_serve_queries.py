"""What the dashboard says of a board, from the store alone (testbed.serve.queries.boards): its latest check,
when it was last seen working, and who holds it - the controller of a run still executing on it, while that
controller's heartbeat is fresh."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from testbed.engine.plan import Plan
from testbed.serve import queries
from testbed.store import Store


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    plan = Plan(name="p", devices=["pi4", "jetson"], models=["digits_cnn"])
    cells = [{"key": f"{d}/digits_cnn/onnx-torch-fp32/t1", "device": d, "model": "digits_cnn",
              "converter": "onnx-torch-fp32", "format": "onnx", "source": "pytorch", "quantization": "fp32",
              "runtime": "onnxruntime", "threads": 1, "repeats": 1} for d in ("pi4", "jetson")]
    store.create_plan_run("r1", "p", plan.to_json(), plan.sha256(), "ctl", "0.1.0", cells, ["pi4", "jetson"])
    store.set_board("r1", "pi4", "ok", agent_info={"hostname": "pi4", "machine": "aarch64"})
    store.set_board("r1", "jetson", "busy", reason="jetson is busy: leased by 'lab2:77:r9' until 2026-01-02T03:00:00")
    assert store.claim_plan_run("r1", "ctl:4242", stale_s=60) is None  # the controller executing r1
    return store


def test_a_running_run_with_a_fresh_heartbeat_holds_its_boards(tmp_path: Path) -> None:
    states = {b.device: b for b in queries.boards(_store(tmp_path))}
    assert states["pi4"].health == "ok" and states["pi4"].lease_holder == "ctl:4242 (run r1)"
    assert states["pi4"].agent == "pi4 · aarch64" and states["pi4"].last_seen is not None
    busy = states["jetson"]
    assert busy.health == "busy" and busy.lease_holder is None and "leased by 'lab2:77:r9'" in (busy.reason or "")
    assert busy.last_seen is None  # never answered in a run


def test_a_stale_heartbeat_or_a_finished_run_holds_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    later = queries.utcnow() + timedelta(seconds=queries.LIVE_S + 5)
    assert {b.device: b.lease_holder for b in queries.boards(store, now=later)}["pi4"] is None
    store.finish_plan_run("r1", "done")
    assert {b.device: b.lease_holder for b in queries.boards(store)}["pi4"] is None
