"""`testbed worker --boards ID|tag:NAME[,...] [--convert N]`: the Celery worker of one lab host, for the
boards attached to it and, optionally, the lab's conversion queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import click

from ..errors import ConfigError, TestbedError
from ._common import fail, split


@click.command()
@click.option("--boards", metavar="ID|tag:NAME[,...]",
              help="The boards this host serves: profile ids, or tag:NAME for every profile with that tag.")
@click.option("--convert", type=click.IntRange(1, 64), metavar="N",
              help="Also serve the lab's conversion queue (testbed.convert), N conversions at once "
                   "(each a process with the frameworks, ~2 GB).")
@click.option("--db", help="The lab's shared results store (default: $TESTBED_DB, the lab file).")
@click.option("--broker", help="The Celery broker, redis://HOST:6379/0 (default: $TESTBED_BROKER, the lab file).")
@click.option("--no-check", is_flag=True, hidden=True, help="Skip the boards' check (a child of a checked worker).")
def worker(boards: str | None, convert: int | None, db: str | None, broker: str | None, no_check: bool) -> None:
    """Serve BOARDS' queues (board.<id>) for `testbed run --engine celery`: one cell at a time per board.
    Each board is checked first (health, agent version); one that fails still gets its queue, and its
    cells fail with the reason. Artifacts come from the store (converted once for the lab). SIGTERM /
    Ctrl-C: the cell in flight is finished first; a worker killed (SIGKILL, a host gone) leaves it to
    the broker, and the next worker of that board takes it up at its start."""
    from ..engine.celery_app import build_app, queue_of, reclaim, serve, serve_conversions, settings

    try:
        lab = settings(broker, db)
        found = _boards(split(boards) or [])
        if not no_check:
            _check_services(lab)
    except TestbedError as exc:
        fail(exc)
        return
    if not found and convert is None:
        fail(TestbedError("nothing to serve: give --boards ID|tag:NAME (the boards attached to this host) "
                          "and/or --convert N (the lab's conversions)"))
        return
    if not no_check:
        if not lab.db:
            _say("no TESTBED_DB (nor --db, nor the lab file's db): this worker stores into SQLite under "
                 "$TESTBED_HOME, right only beside a controller on this host with the same TESTBED_HOME")
        for profile in found:
            _say(f"board {profile.id}: {_check(profile)}")
    if len(found) == 1 and convert is None:
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
    if not found and convert is not None:
        def converting(sender: Any = None, **_: Any) -> None:
            _say(f"serving the conversion queue testbed.convert ({convert} at once) as "
                 f"{getattr(sender, 'hostname', '?')}")

        serve_conversions(build_app(lab), convert, converting)
        return
    sys.exit(_one_process_each([p.id for p in found], convert, lab.broker or "", lab.db))


def _boards(names: list[str]) -> list[Any]:
    """The profiles named: ids, and ``tag:NAME`` for every profile carrying that tag (each once)."""
    from .. import profiles

    found: dict[str, Any] = {}
    for name in names:
        if not name.startswith("tag:"):
            profile = profiles.load(name)
            found.setdefault(profile.id, profile)
            continue
        tag = name[4:]
        tagged = [p for _, p in profiles.all_profiles() if not isinstance(p, ConfigError) and tag in p.tags]
        if not tagged:
            raise ConfigError(f"--boards {name}: no profile has the tag '{tag}' ("
                              "`testbed devices` lists the profiles and their tags)")
        for profile in tagged:
            found.setdefault(profile.id, profile)
    return list(found.values())


def _check_services(lab: Any) -> None:
    """The store and the broker answer, else one ConfigError naming the one that does not."""
    from ..engine.celery_app import build_app
    from ..errors import first_line
    from ..store import Store

    Store(lab.db)  # ConfigError: cannot open results store URL: ...
    try:
        with build_app(lab).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu's OperationalError and the socket errors under it
        raise ConfigError(f"cannot reach the Celery broker {lab.broker}: {first_line(exc)}") from exc


def _say(line: str) -> None:
    """One whole line in one write: a worker's board processes share its stdout, and ``print`` writes
    the text and its newline apart, so two of them interleaved ("...as board.lab2@vmserving board lab1").
    A supervisor (or a test) reads these lines as they come."""
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (line + "\n").encode())


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


def _one_process_each(boards: list[str], convert: int | None, broker: str, db: str | None) -> int:
    """A Celery worker process per board (each: concurrency 1, its own queue) and one for the conversion
    queue; stop them together."""
    base = [sys.executable, "-m", "testbed.cli", "worker", "--no-check", "--broker", broker,
            *(["--db", db] if db else [])]
    procs = [subprocess.Popen([*base, "--boards", b]) for b in boards]
    if convert is not None:
        procs.append(subprocess.Popen([*base, "--convert", str(convert)]))

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)
