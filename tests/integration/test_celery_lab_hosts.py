"""A lab of two hosts on Celery, no mocks: `testbed lab up --boards 4 --hosts 2` makes two stand-in lab
hosts (network namespaces) that own two virtual boards each (lab1, lab2 on host1; lab3, lab4 on host2:
each board a namespace with a real sshd, reachable from its host's namespace only, not from here). A
`testbed worker --boards tag:hostK` runs inside each host's namespace, with its own TESTBED_HOME (its
own artifact cache); host1's also serves the lab's conversion queue. They reach the throwaway
`redis-server` (the broker) and PostgreSQL cluster (the store, Celery's result backend) through their
unix sockets: no server listens beyond loopback, and the hosts have no route to anything.

* a plan over the four boards: every cell done and stored exactly once; each artifact converted once
  for the lab (on the conversion queue), host2's worker fetched it from the store; the broker
  restarted mid-plan and the run still completes;
* `kill -9` of host1's worker mid-cell, started again: its cell is redone and stored once; a board taken
  off the network (from inside its namespace) fails only its own cells, with the reason.

The boards run the agent with this checkout's venv (the boards share this machine's filesystem), not
an `agent install` per board: that install is tested in test_lab.py and would add minutes here.
Needs root and `ip netns` (marker ``lab``), like tests/integration/test_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from helpers import netns, postgres
from helpers.celery_worker import Worker
from helpers.cli import TESTBED, run
from helpers.nightly import wait_for
from helpers.redis import RedisServer
from testbed.store import Store

REASON = netns.skip_reason()
pytestmark = [pytest.mark.integration, pytest.mark.lab, pytest.mark.framework,
              pytest.mark.skipif(REASON is not None, reason=f"lab tests: {REASON}")]

HOSTS = {"host1": ["lab1", "lab2"], "host2": ["lab3", "lab4"]}
VISIBILITY_S = 900


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("celery-lab")
    home = root / "controller-home"
    redis, pg = RedisServer(), postgres.start()
    base = {"TESTBED_PROFILES": str(home / "lab" / "profiles"), "TESTBED_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
            "TESTBED_CELL_PREPARE_S": "240"}
    env = {**base, "TESTBED_HOME": str(home), "TESTBED_DB": pg.url, "TESTBED_BROKER": redis.url}
    up = run("lab", "up", "--boards", "4", "--hosts", "2", "--pin", env=env, timeout=120)
    state_file = home / "lab" / "state.json"
    lab_id = json.loads(state_file.read_text())["lab_id"] if state_file.exists() else None
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads(state_file.read_text())
        netns_of = {h["name"]: h["netns"] for h in state["hosts"]}
        for host, boards in HOSTS.items():
            for board in boards:
                profile = home / "lab" / "profiles" / f"{board}.yaml"
                data = yaml.safe_load(profile.read_text())
                assert host in data["tags"], data
                data["agent"]["python"] = sys.executable  # this checkout's venv (see the module's docstring)
                data["runtimes"] = ["onnxruntime"]
                profile.write_text(yaml.safe_dump(data))
                started = subprocess.run(["ip", "netns", "exec", netns_of[host], TESTBED, "agent", "start",
                                          "--device", board], capture_output=True, text=True, timeout=120,
                                         env={**os.environ, **env})
                assert started.returncode == 0, started.stderr[-2000:]
        # from here (not a lab host) the boards are out of reach
        assert run("agent", "status", "--device", "lab1", env=env, timeout=60).returncode != 0
        Store(pg.url)  # tables up to date before a test reads them
        workers_env = {host: {**base, "TESTBED_HOME": str(root / f"{host}-home"), "TESTBED_DB": pg.socket_url,
                              "TESTBED_BROKER": redis.socket_url} for host in HOSTS}
        yield {"env": env, "root": root, "redis": redis, "pg": pg, "netns": netns_of, "workers_env": workers_env,
               "boards": {b["name"]: b for b in state["boards"]}}
    finally:
        down = run("lab", "down", env=env, timeout=120)
        redis.close()
        pg.stop()
        assert down.returncode == 0, down.stderr
        if lab_id:
            assert netns.leftovers(lab_id, home / "lab") == []


def _worker(lab: dict, host: str, convert: bool = False) -> Worker:
    return Worker(lab["workers_env"][host], HOSTS[host], netns=lab["netns"][host], select=f"tag:{host}",
                  args=("--convert", "1") if convert else ())


def _plan(lab: dict, name: str) -> Path:
    path = lab["root"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "engine": "celery", "devices": [b for boards in HOSTS.values() for b in boards],
        "models": ["digits_cnn"], "formats": ["onnx"], "sources": ["pytorch"], "quantization": ["fp32"],
        "runtimes": ["onnxruntime"], "threads": [1, 2], "repeats": 1,
        "measure": {"preset": "quick", "warmup": 2, "iterations": 30},
        "execution": {"retries": 0, "health_timeout_s": 10, "cell_timeout_s": 30, "on_busy": "skip",
                      "lease_ttl_s": 30}}))
    return path


def _cells(url: str, run_id: str) -> dict[str, tuple[str, int, int, str | None]]:
    """cell key -> (state, attempts, result rows stored for it, error)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT c.key, c.state, c.attempts, count(r.id), c.error FROM plan_cells c LEFT JOIN results r "
                "ON r.cell_id = c.id WHERE c.run_id = :run GROUP BY c.key, c.state, c.attempts, c.error"),
                {"run": run_id})
            return {key: (state, attempts, n, error) for key, state, attempts, n, error in rows}
    finally:
        engine.dispose()


def _start(lab: dict, plan: Path) -> subprocess.Popen:
    return subprocess.Popen([TESTBED, "run", "--plan", str(plan), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **lab["env"]})


def _finish(proc: subprocess.Popen, workers: list[Worker]) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    logs = "\n".join(w.log() for w in workers)
    try:
        out = json.loads(stdout)
    except ValueError:
        raise AssertionError(f"rc={proc.returncode} {stdout[-1500:]} {stderr[-3000:]}\n{logs}") from None
    out["_rc"], out["_stderr"], out["_logs"] = proc.returncode, stderr, logs
    return out


def _states(lab: dict, plan_name: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(lab["pg"].url)
    try:
        with engine.connect() as conn:
            return [(d, s) for d, s in conn.execute(sa.text(
                "SELECT c.device, c.state FROM plan_cells c JOIN plan_runs r ON r.id = c.run_id "
                "WHERE r.plan_name = :name"), {"name": plan_name})]
    finally:
        engine.dispose()


def test_two_lab_hosts_run_every_cell_once_through_a_broker_restart(lab: dict) -> None:
    workers = [_worker(lab, "host1", convert=True), _worker(lab, "host2")]
    try:
        assert all(any(line.startswith(f"board {b}: ok, agent") for line in w.lines)
                   for w in workers for b in w.boards), "\n".join(w.log() for w in workers)
        proc = _start(lab, _plan(lab, "two-hosts"))
        wait_for(lambda: proc.poll() is not None or any(s == "done" for _, s in _states(lab, "two-hosts")), 300,
                 "the first cell done", poll=0.5)
        assert proc.poll() is None, _finish(proc, workers)
        lab["redis"].restart(down_s=2.0)  # mid-plan: queued and unacknowledged cells are in its append-only file
        out = _finish(proc, workers)
    finally:
        for w in workers:
            w.stop()
    assert out["_rc"] == 0, (out["_stderr"][-3000:], out["_logs"])
    cells = _cells(lab["pg"].url, out["run_id"])
    assert len(cells) == 8, cells  # 4 boards x threads 1, 2
    assert {k: (s, n) for k, (s, _, n, _) in cells.items()} == {k: ("done", 1) for k in cells}, cells
    assert out["boards"] == {b: {"status": "ok", "reason": None} for boards in HOSTS.values() for b in boards}
    # converted once for the lab, on host1's conversion queue; host2's worker fetched it from the store
    converted = [line for line in workers[0].lines if "converted here and stored" in line]
    assert len(converted) == 1 and "digits_cnn with onnx-torch-fp32" in converted[0], workers[0].log()
    assert any("fetched from the store" in line for line in workers[1].lines), workers[1].log()
    assert not any("converted here" in line for line in workers[1].lines), workers[1].log()
    assert not list((Path(lab["env"]["TESTBED_HOME"]) / "cache" / "artifacts").glob("*/meta.json")), \
        "the controller converted although a conversion worker serves the lab"


def test_a_killed_worker_redoes_its_cell_and_an_unreachable_board_fails_only_its_cells(lab: dict) -> None:
    board4 = lab["boards"]["lab4"]
    subprocess.run(["ip", "-n", board4["netns"], "link", "set", "eth0", "down"], check=True)  # from inside only
    workers = [_worker(lab, "host1"), _worker(lab, "host2")]
    try:
        assert any(line.startswith("board lab4: NOT REACHABLE now") for line in workers[1].lines), workers[1].log()
        proc = _start(lab, _plan(lab, "kill-one"))

        def running_on_host1() -> bool:
            return proc.poll() is not None or any(d in HOSTS["host1"] and s == "running" for d, s in _states(lab, "kill-one"))

        wait_for(running_on_host1, 300, "a cell running on a board of host1", poll=0.2)
        assert proc.poll() is None, _finish(proc, workers)
        workers[0].kill()
        workers[0] = _worker(lab, "host1")  # the same lab host again: it queues its abandoned cell again at once
        assert any("cell(s) an earlier worker left unfinished are queued again" in line
                   for line in workers[0].lines), workers[0].log()
        out = _finish(proc, workers)
    finally:
        for w in workers:
            w.stop()
        subprocess.run(["ip", "-n", board4["netns"], "link", "set", "eth0", "up"], check=False)
    assert out["_rc"] == 3, (out["_stderr"][-3000:], out["_logs"])  # a board was bad
    cells = _cells(lab["pg"].url, out["run_id"])
    mine = {k: v for k, v in cells.items() if not k.startswith("lab4/")}
    assert {k: (s, n) for k, (s, _, n, _) in mine.items()} == {k: ("done", 1) for k in mine}, cells
    # the killed worker's cells in flight (one per board of host1 at most, each board runs one cell at a time)
    # are each redone once; nothing on host2 is redone
    redone = {k for k, (_, a, _, _) in mine.items() if a == 2}
    assert 1 <= len(redone) <= len(HOSTS["host1"]), cells
    assert all(k.split("/")[0] in HOSTS["host1"] for k in redone), cells
    assert all(a in (1, 2) for _, a, _, _ in mine.values()), cells
    lost = {k: v for k, v in cells.items() if k.startswith("lab4/")}
    assert len(lost) == 2 and all(s in ("error", "skipped") and n == 0 and "health check" in (e or "")
                                  for s, _, n, e in lost.values()), lost
    assert out["boards"]["lab4"]["status"] == "bad", out["boards"]
