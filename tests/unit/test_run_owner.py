"""One controller executes a plan run at a time: the store's claim / heartbeat / release, and
`engine.run.claim` refusing a run another live controller holds (SQLite here; the same SQL runs
on PostgreSQL in tests/integration/test_store_pg.py's store)."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from testbed.engine import run as runner
from testbed.errors import ConfigError
from testbed.store import Store
from testbed.store.db import _now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'r.db'}")
    s.create_plan_run("20261125-000000-abcd", "p", {}, "0" * 64, "h", "0", [], ["local"])
    return s


RUN = "20261125-000000-abcd"


def test_a_live_owner_keeps_the_run_and_a_stale_one_loses_it(store: Store) -> None:
    assert store.claim_plan_run(RUN, "a:1", stale_s=60) is None
    assert store.claim_plan_run(RUN, "a:1", stale_s=60) is None  # the owner itself: fine
    held = store.claim_plan_run(RUN, "b:2", stale_s=60)
    assert held is not None and held.startswith("a:1 (alive ")
    assert store.heartbeat_plan_run(RUN, "a:1")
    store.update_plan_run(RUN, heartbeat_at=_now() - timedelta(seconds=61))  # a:1 went silent
    assert store.claim_plan_run(RUN, "b:2", stale_s=60) is None
    assert not store.heartbeat_plan_run(RUN, "a:1")  # it is b's run now
    store.release_plan_run(RUN, "a:1")  # not a's to release: nothing changes
    assert store.plan_run_owner(RUN) == "b:2"
    store.release_plan_run(RUN, "b:2")
    assert store.plan_run_owner(RUN) is None and store.plan_run(RUN).heartbeat_at is None


def test_a_dead_process_of_this_host_is_taken_over_at_once(store: Store) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()}:{gone.pid}"
    assert store.claim_plan_run(RUN, dead, stale_s=60) is None
    assert runner.claim(store, RUN) == runner.owner_id()


def test_claim_names_the_live_controller(store: Store) -> None:
    assert store.claim_plan_run(RUN, "another-host:4242", stale_s=60) is None
    with pytest.raises(ConfigError, match=r"run 20261125-000000-abcd is being executed by another-host:4242 "
                                          r"\(alive \d+ s ago\)"):
        runner.claim(store, RUN)
    assert store.plan_run_owner(RUN) == "another-host:4242"  # untouched


def test_only_a_missing_pid_of_this_host_counts_as_dead() -> None:
    host = socket.gethostname()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert runner._dead_owners(f"{host}:{live.pid}") == []
    finally:
        live.kill()
        live.wait()
    assert runner._dead_owners(f"{host}:{live.pid}") == [f"{host}:{live.pid}"]
    assert runner._dead_owners(f"other-{host}:{live.pid}") == []  # another host's PIDs mean nothing here
    assert runner._dead_owners(None) == [] and runner._dead_owners("garbage") == []
