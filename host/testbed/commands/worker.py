"""`testbed worker --boards ID[,ID]`: the Celery worker of one lab host, for the boards attached to it."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import click

from ..errors import TestbedError
from ._common import fail, split


@click.command()
@click.option("--boards", required=True, metavar="ID[,ID]", help="Profile ids of the boards this host serves.")
@click.option("--db", help="The lab's shared results store (default: $TESTBED_DB, the lab file).")
@click.option("--broker", help="The Celery broker, redis://HOST:6379/0 (default: $TESTBED_BROKER, the lab file).")
@click.option("--no-check", is_flag=True, hidden=True, help="Skip the boards' check (a child of a checked worker).")
def worker(boards: str, db: str | None, broker: str | None, no_check: bool) -> None:
    """Serve BOARDS' queues (board.<id>) for `testbed run --engine celery`: one cell at a time per board.
    Each board is checked first (health, agent version); one that fails still gets its queue, and its
    cells fail with the reason. SIGTERM / Ctrl-C: the cell in flight is finished first; a worker killed
    (SIGKILL, a host gone) leaves it to the broker, which hands it out again after its visibility timeout."""
    from .. import profiles
    from ..engine.celery_app import build_app, queue_of, reclaim, serve, settings

    ids = split(boards) or []
    try:
        lab = settings(broker, db)
        found = [profiles.load(board) for board in ids]
    except TestbedError as exc:
        fail(exc)
        return
    if not found:
        fail(TestbedError("--boards names no board"))
        return
    if not no_check:
        for profile in found:
            _say(f"board {profile.id}: {_check(profile)}")
    if len(found) == 1:
        board = found[0].id

        def ready(sender: Any = None, **_: Any) -> None:
            _say(f"serving board {board} (queue {queue_of(board)}) as {getattr(sender, 'hostname', '?')}")

        app = build_app(lab)
        try:
            again = reclaim(app, board)
        except TestbedError as exc:
            fail(exc)
            return
        if again:
            _say(f"board {board}: {again} cell(s) an earlier worker left unfinished are queued again")
        serve(app, board, ready)
        return
    sys.exit(_one_process_per_board([p.id for p in found], lab.broker or "", lab.db))


def _say(line: str) -> None:
    print(line, flush=True)  # a supervisor (or a test) reads these lines as they come


def _check(profile: Any) -> str:
    """ok with the agent's version, or why the board cannot be used now (its cells will fail with it)."""
    from ..engine.context import connect_profile

    transport = None
    try:
        transport, client = connect_profile(profile)
        health = client.health()
        info = client.info()
        runtimes = sorted(k for k, v in (info.get("runtimes") or {}).items() if (v or {}).get("available"))
        return f"ok, agent {health.get('version', '?')}, runtimes {', '.join(runtimes) or 'none'}"
    except TestbedError as exc:
        return f"NOT REACHABLE now: {exc} (served anyway: its cells fail with this reason until it answers)"
    finally:
        if transport is not None:
            transport.close()


def _one_process_per_board(boards: list[str], broker: str, db: str | None) -> int:
    """A Celery worker process per board (each: concurrency 1, its own queue); stop them together."""
    base = [sys.executable, "-m", "testbed.cli", "worker", "--no-check", "--broker", broker]
    procs = [subprocess.Popen([*base, *(["--db", db] if db else []), "--boards", b]) for b in boards]

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)
