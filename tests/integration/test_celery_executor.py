"""`testbed run --engine celery`: cells go through a real Redis broker (a throwaway `redis-server` on
127.0.0.1, installed by scripts/install-system-deps.sh) to a real `testbed worker`, which measures them
on its board (this machine, local transport: a real agent) and stores them in a throwaway PostgreSQL
cluster (tests/helpers/postgres.py), the result backend too.

Every cell is stored exactly once; a worker killed with SIGKILL mid-cell and started again redoes that
cell (it queues its board's unacknowledged message again at start, instead of waiting out the broker's
visibility timeout) and it is still stored once.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from helpers import postgres
from helpers.celery_worker import Worker
from helpers.cli import TESTBED
from helpers.nightly import Lab, agent_processes, make_lab, wait_for
from helpers.redis import RedisServer, free_port
from testbed.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.framework]

# This machine as a board with short timeouts. The worker uses its own measurement lock
# (TESTBED_LOCAL_LOCK): other tests measuring on this machine must not eat into a cell's time limit.
BOARD = """id: celery-local
description: this machine for the Celery tests (no power sensor, one thread, short runs)
transport: local
runtimes: [onnxruntime]
threads: 1
measure: {warmup: 2, iterations: 30, max_s: 5}
power: {sensors: [none]}
agent: {start_timeout_s: 25}
"""
VISIBILITY_S = 900  # above every cell's time limit; a restarted worker reclaims its board's cells at once


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.Postgres]:
    server = postgres.start()
    yield server
    server.stop()


@pytest.fixture()
def lab(tmp_path: Path, redis_url: str, pg: postgres.Postgres) -> Lab:
    made = make_lab(tmp_path / "lab")
    (made.root / "profiles" / "celery-local.yaml").write_text(BOARD)
    made.env.update(TESTBED_DB=pg.url, TESTBED_BROKER=redis_url, TESTBED_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S),
                    TESTBED_CELL_PREPARE_S="240", TESTBED_LOCAL_LOCK=str(tmp_path / "measure.lock"))
    made.db = pg.url
    Store(pg.url)  # tables up to date before a test reads them
    return made


def _plan(lab: Lab, name: str, threads: list[int], board: str = "celery-local", cell_timeout_s: float = 10) -> Path:
    return lab.plan(name, devices=[board], models=["digits_cnn"], threads=threads, repeats=1,
                    execution={"retries": 0, "health_timeout_s": 5, "cell_timeout_s": cell_timeout_s, "on_busy": "skip",
                               "lease_ttl_s": 30})


def _results_per_cell(url: str, run_id: str) -> dict[str, tuple[str, int, int]]:
    """cell key -> (state, attempts, result rows stored for it)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT c.key, c.state, c.attempts, count(r.id) FROM plan_cells c LEFT JOIN results r "
                "ON r.cell_id = c.id WHERE c.run_id = :run GROUP BY c.key, c.state, c.attempts"), {"run": run_id})
            return {key: (state, attempts, n) for key, state, attempts, n in rows}
    finally:
        engine.dispose()


def test_a_plan_runs_on_a_celery_worker_every_cell_once(lab: Lab) -> None:
    worker = Worker(lab.env)
    try:
        rc, out = lab.run_json("run", "--plan", str(_plan(lab, "celery-plan", [1, 2])), "--engine", "celery",
                               timeout=300)
    finally:
        worker.stop()
    assert rc == 0, (out, worker.log())
    assert any("board celery-local: ok, agent" in line for line in worker.lines), worker.log()
    assert out["boards"] == {"celery-local": {"status": "ok", "reason": None}}
    cells = _results_per_cell(lab.db, out["run_id"])
    assert len(cells) == 2 and all(key.startswith("celery-local/digits_cnn/onnx") for key in cells), cells
    assert {key: (state, n) for key, (state, _, n) in cells.items()} == {key: ("done", 1) for key in cells}
    assert all(c["state"] == "done" and c["p50_ms"] for c in out["cells"]), out["cells"]


def test_a_plan_fails_at_once_when_no_worker_serves_its_board(lab: Lab) -> None:
    rc, out = lab.run_json("run", "--plan", str(_plan(lab, "celery-nobody", [1])), "--engine", "celery")
    assert rc == 3, out
    status, reason = out["boards"]["celery-local"]["status"], out["boards"]["celery-local"]["reason"]
    assert status == "bad" and "no testbed worker serves the queue board.celery-local" in reason, out
    assert {c["state"] for c in out["cells"]} == {"skipped"}


def test_a_board_its_worker_cannot_reach_fails_only_its_cells_with_the_reason(lab: Lab) -> None:
    worker = Worker(lab.env, "nb-offline")  # an SSH board on a closed port: served anyway, its check says why
    try:
        assert any(line.startswith("board nb-offline: NOT REACHABLE now") for line in worker.lines), worker.log()
        rc, out = lab.run_json("run", "--plan", str(_plan(lab, "celery-offline", [1], "nb-offline", 60)),
                               "--engine", "celery", timeout=300)
    finally:
        worker.stop()
    assert rc == 3, (out, worker.log())
    status, reason = out["boards"]["nb-offline"]["status"], out["boards"]["nb-offline"]["reason"]
    assert status == "bad" and reason.startswith("failed its health check"), out["boards"]
    assert [(c["state"], c["error"].startswith("board bad: failed its health check")) for c in out["cells"]] == [
        ("skipped", True)], out["cells"]


def test_an_unreachable_broker_is_one_clear_error(lab: Lab) -> None:
    lab.env["TESTBED_BROKER"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    proc = lab.testbed("run", "--plan", str(_plan(lab, "celery-nobroker", [1])), "--engine", "celery", timeout=120)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert f"cannot reach the Celery broker {lab.env['TESTBED_BROKER']}" in proc.stderr, proc.stderr


def test_a_worker_killed_mid_cell_is_restarted_and_the_cell_is_stored_once(lab: Lab) -> None:
    worker = Worker(lab.env)
    plan = _plan(lab, "celery-kill", [1, 2])
    proc = subprocess.Popen([TESTBED, "run", "--plan", str(plan), "--engine", "celery", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **lab.env})
    try:
        engine = sa.create_engine(lab.db)
        try:
            def running() -> bool:
                with engine.connect() as conn:
                    states = conn.execute(sa.text("SELECT state FROM plan_cells c JOIN plan_runs r ON r.id = c.run_id "
                                                  "WHERE r.plan_name = 'celery-kill'")).scalars().all()
                return "running" in states and bool(agent_processes(worker.proc.pid))
            wait_for(running, 240, "a cell of the plan to be running on the worker's board", poll=0.2)
        finally:
            engine.dispose()
        worker.kill()
        worker = Worker(lab.env)  # the same lab host again: it queues the abandoned cell again at once
        assert any("1 cell(s) an earlier worker left unfinished are queued again" in line
                   for line in worker.lines), worker.log()
        stdout, stderr = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        worker.stop()
    assert proc.returncode == 0, (stdout[-2000:], stderr[-3000:], worker.log())
    run_id = json.loads(stdout)["run_id"]
    cells = _results_per_cell(lab.db, run_id)
    assert {key: (state, n) for key, (state, _, n) in cells.items()} == {key: ("done", 1) for key in cells}, cells
    assert sorted(attempts for _, attempts, _ in cells.values()) == [1, 2], cells  # the killed one: redone once
    assert not [p for p in psutil.process_iter(["cmdline"]) if "celery-local" in " ".join(p.info["cmdline"] or [])
                and "worker" in (p.info["cmdline"] or [])], "a worker process was left behind"


def test_a_run_no_worker_served_is_resumed_once_a_worker_serves_its_board(lab: Lab) -> None:
    rc, out = lab.run_json("run", "--plan", str(_plan(lab, "celery-resume", [1])), "--engine", "celery")
    assert rc == 3 and {c["state"] for c in out["cells"]} == {"skipped"}, out
    worker = Worker(lab.env)
    try:
        rc, again = lab.run_json("run", "--resume", out["run_id"], timeout=300)
    finally:
        worker.stop()
    assert rc == 0, (again, worker.log())
    assert again["run_id"] == out["run_id"] and [c["state"] for c in again["cells"]] == ["done"], again
    assert {k: (s, n) for k, (s, _, n) in _results_per_cell(lab.db, out["run_id"]).items()} == {
        "celery-local/digits_cnn/onnx-torch-fp32/t1": ("done", 1)}


def test_a_board_whose_worker_is_gone_for_good_fails_its_cells_instead_of_waiting(lab: Lab) -> None:
    lab.env["TESTBED_WORKER_GONE_S"] = "5"
    worker = Worker(lab.env)
    plan = _plan(lab, "celery-gone", [1, 2])
    proc = subprocess.Popen([TESTBED, "run", "--plan", str(plan), "--engine", "celery", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **lab.env})
    try:
        wait_for(lambda: proc.poll() is not None or bool(agent_processes(worker.proc.pid)), 240,
                 "the worker's board agent (a cell started)", poll=0.2)
        worker.kill()  # and not started again
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        worker.stop()
    assert proc.returncode == 3, (stdout[-2000:], stderr[-3000:])
    out = json.loads(stdout)
    assert out["boards"]["celery-local"]["status"] == "lost", out["boards"]
    reason = out["boards"]["celery-local"]["reason"]
    assert "no testbed worker has served board.celery-local" in reason and "testbed worker --boards" in reason
    assert {c["state"] for c in out["cells"]} <= {"error", "done"} and "error" in {c["state"] for c in out["cells"]}


def test_a_worker_whose_store_is_unreachable_is_one_clear_error(lab: Lab) -> None:
    lab.env["TESTBED_DB"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"  # nobody there
    proc = lab.testbed("worker", "--boards", "celery-local", timeout=120)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert proc.stderr.strip().count("\n") == 0, proc.stderr  # one line
    assert "cannot open results store postgresql+psycopg://postgres@127.0.0.1" in proc.stderr, proc.stderr


def test_a_cell_that_may_outlast_the_visibility_timeout_is_refused_before_anything_is_sent(lab: Lab) -> None:
    lab.env["TESTBED_VISIBILITY_TIMEOUT_S"] = "120"  # below a cell's time limit (its timeouts + prepare_s 240)
    proc = lab.testbed("run", "--plan", str(_plan(lab, "celery-visibility", [1])), "--engine", "celery", timeout=120)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "not below the broker's visibility timeout of 120 s" in proc.stderr, proc.stderr
    assert "raise visibility_timeout_s" in proc.stderr, proc.stderr
