"""Celery for a lab larger than one host: the app, its settings, and the task that runs one cell.

    LabSettings / settings()   broker, store and visibility timeout: the environment over a lab file
    build_app(settings)        a Celery app: Redis broker, the run's store as result backend
    run_cell(run_id, cell_id)  the task: ONE cell on a board this worker owns (``board.BoardWorker``)
    convert(model, converter)  the task: one artifact for the lab (``lab_artifacts.obtain``), queue testbed.convert
    reclaim(app, board)        before serving: one worker per board; its queue's abandoned cells again
    serve(app, board)          a Celery worker for one board's queue, one cell at a time

Settings, each from the environment, else the lab file (``$TESTBED_LAB``, default
``$TESTBED_HOME/lab.yaml``, keys ``broker``, ``db``, ``visibility_timeout_s``, ``prepare_s``)::

    TESTBED_BROKER                  redis://lab-broker:6379/0
    TESTBED_DB                      postgresql+psycopg://testbed@lab-db/testbed (also the result backend)
    TESTBED_VISIBILITY_TIMEOUT_S    14400 (above every cell's time limit)
    TESTBED_CELL_PREPARE_S          600 (a cell's host work before its board, in its time limit)

Celery's traps, handled here: ``acks_late`` with ``reject_on_worker_lost`` (a worker killed mid-cell
leaves its message unacknowledged: Redis hands it out again once the visibility timeout has passed,
so that timeout must exceed the longest cell, which ``celery_executor`` checks per plan); prefetch 1
(a board's worker never holds a second cell it cannot start); time limits per cell (set by the
executor from the plan on each message); and an idempotent commit: a cell whose row is done or
failed is not measured again, and ``OnceStore.finish_cell`` stores a cell only while its row is
unfinished, in the same transaction, so two deliveries of one cell never both store.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..errors import ConfigError, first_line
from ..store import FINISHED, Store
from ..store.rows import _now, result_row, rowcount
from ..store.schema import PlanCell

TASK = "testbed.run_cell"
CONVERT_TASK = "testbed.convert"
CONVERT_QUEUE = "testbed.convert"  # the lab's conversions: `testbed worker --convert N` on any host
QUEUE_PREFIX = "board."


class LabSettings(BaseModel):
    """Where a lab's broker and store are (the lab file's keys; every one may come from the environment)."""

    model_config = ConfigDict(extra="forbid")

    broker: str | None = None  # redis://host:6379/0 ($TESTBED_BROKER)
    db: str | None = None  # the shared results store, PostgreSQL for a lab ($TESTBED_DB)
    visibility_timeout_s: float = Field(default=14400.0, gt=0)  # above the longest cell (and its time limit)
    prepare_s: float = Field(default=600.0, ge=0)  # a cell's host work before its board: model, references,
    # a conversion when the worker's cache lacks the artifact ($TESTBED_CELL_PREPARE_S); in its time limit
    worker_gone_s: float = Field(default=600.0, gt=0)  # a board no worker has served this long: its waiting
    # cells are marked error (resumable) instead of waiting for ever ($TESTBED_WORKER_GONE_S)
    nightly: list[Any] = []  # Celery beat's schedule ({plan, cron} entries), validated by celery_lab.nightly


def queue_of(device: str) -> str:
    """The queue of one board's cells: ``board.<device id>``."""
    return QUEUE_PREFIX + device


def lab_file() -> Path:
    from ..paths import home

    return Path(os.environ.get("TESTBED_LAB") or home() / "lab.yaml")


def _from_file(path: Path) -> LabSettings:
    """The lab file's settings (none when it does not exist); a bad one is a ConfigError naming the key."""
    if not path.is_file():
        return LabSettings()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return LabSettings.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"lab file {path}: not YAML: {str(exc).splitlines()[0]}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        keys = ", ".join(LabSettings.model_fields)
        raise ConfigError(f"lab file {path}: key '{key}': {err['msg']} (the keys: {keys})") from exc


def lab_db() -> str | None:
    """The lab's shared store: ``$TESTBED_DB``, else the lab file's ``db`` (None: neither)."""
    return os.environ.get("TESTBED_DB") or _from_file(lab_file()).db


def settings(broker: str | None = None, db: str | None = None) -> LabSettings:
    """The arguments, else the environment, else the lab file; a missing broker is a ConfigError."""
    path = lab_file()
    found = _from_file(path)
    env = os.environ
    visibility, prepare = env.get("TESTBED_VISIBILITY_TIMEOUT_S"), env.get("TESTBED_CELL_PREPARE_S")
    gone = env.get("TESTBED_WORKER_GONE_S")
    try:
        chosen = LabSettings(broker=broker or env.get("TESTBED_BROKER") or found.broker,
                             db=db or env.get("TESTBED_DB") or found.db,
                             visibility_timeout_s=float(visibility) if visibility else found.visibility_timeout_s,
                             prepare_s=float(prepare) if prepare else found.prepare_s,
                             worker_gone_s=float(gone) if gone else found.worker_gone_s, nightly=found.nightly)
    except (ValueError, ValidationError) as exc:
        raise ConfigError("TESTBED_VISIBILITY_TIMEOUT_S / TESTBED_CELL_PREPARE_S / TESTBED_WORKER_GONE_S: "
                          f"{str(exc).splitlines()[0]}") from exc
    if not chosen.broker:
        raise ConfigError(f"no Celery broker: give --broker redis://HOST:6379/0, set TESTBED_BROKER, "
                          f"or write 'broker:' in the lab file {path}")
    return chosen


def build_app(lab: LabSettings) -> Any:
    """A Celery app for the lab: its task registered, the traps' settings on."""
    from celery import Celery

    from ..store import default_url

    app = Celery("testbed", broker=lab.broker, backend="db+" + (lab.db or default_url()), set_as_current=False)
    sweep = max(1.0, min(10.0, lab.visibility_timeout_s / 10))  # look for abandoned messages this often
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_track_started=True, task_serializer="json", result_serializer="json", accept_content=["json"],
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False, worker_redirect_stdouts=False,
        # the broker restarted mid-cell: the cell goes on (its board and the store do not need the broker);
        # its message, unacknowledged in the broker's append-only file, meets a stored cell if redelivered
        worker_cancel_long_running_tasks_on_connection_loss=False, broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_transport_options={"visibility_timeout": lab.visibility_timeout_s,
                                  "unacked_restore_interval": sweep, "unacked_restore_throttle": 1},
    )

    @app.task(name=TASK, bind=True)
    def run_cell_task(task: Any, run_id: str, cell_id: int) -> str:
        """The cell's final state (a redelivered cell that is finished: its stored state)."""
        return run_cell(run_id, cell_id, store_for(lab.db))

    @app.task(name=CONVERT_TASK, bind=True)
    def convert_task(task: Any, model_ref: str, converter: str) -> dict[str, Any]:
        """One artifact for the whole lab: this host's cache, the store, else converted here and stored."""
        return convert(model_ref, converter, store_for(lab.db))

    return app


def convert(model_ref: str, converter: str, store: Store) -> dict[str, Any]:
    """The artifact's fields (``Artifact.to_dict``; a failed conversion is a failed artifact, not an error)."""
    import testbed_zoo

    from .lab_artifacts import obtain

    art = obtain(store, converter, testbed_zoo.load(model_ref), say=_say)
    return art.to_dict()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


_stores: dict[tuple[int, str | None], OnceStore] = {}


def store_for(url: str | None) -> OnceStore:
    """This process's store (one per forked pool process: a connection pool never crosses a fork)."""
    key = (os.getpid(), url)
    if key not in _stores:
        _stores[key] = OnceStore(url)
    return _stores[key]


class OnceStore(Store):
    """The store, with a cell stored at most once: ``finish_cell`` writes only while the row is unfinished."""

    def finish_cell(self, cell_id: int, state: str, error: str | None, deployment_id: str | None,
                    results: Iterable[tuple[dict, list[int], list]]) -> None:
        with Session(self.engine) as s:
            n = rowcount(s.execute(update(PlanCell).where(PlanCell.id == cell_id, PlanCell.state.not_in(FINISHED))
                                   .values(state=state, error=error, deployment_id=deployment_id,
                                           finished_at=_now())))
            if not n:  # another delivery of this cell stored it first (the row lock made us wait for it)
                s.rollback()
                print(f"cell {cell_id} was already stored by another delivery: this measurement is dropped",
                      file=sys.stderr, flush=True)
                return
            for record, samples, power_samples in results:
                assert deployment_id is not None
                s.add(result_row(deployment_id, record, samples, power_samples, cell_id=cell_id))
            s.commit()


def run_cell(run_id: str, cell_id: int, store: Store) -> str:
    """Run one cell of a stored run on its board, through the same ``BoardWorker`` as a run in one
    process: health check, lease, retries of board faults, one transaction. A cell already done or
    failed (a redelivered message) is neither measured nor stored again."""
    from rich.console import Console

    import testbed_zoo

    from .. import profiles
    from .board import BoardWorker
    from .context import RunContext
    from .lab_artifacts import obtain
    from .plan import from_dict
    from .ui import LineUI

    run = store.plan_run(run_id)
    if run is None:
        raise ConfigError(f"run {run_id} is not in the store {store.url}: the worker and the controller "
                          "must share one store (--db / TESTBED_DB)")
    cell = next((c for c in store.plan_cells(run_id) if c.id == cell_id), None)
    if cell is None:
        raise ConfigError(f"run {run_id} has no cell {cell_id}")
    if cell.state in FINISHED:
        return cell.state
    if run.status != "running":  # a message handed out again after its run ended: nobody waits for it, and
        return f"not run: its run is {run.status}"  # `--resume` of the run sends the cell again
    plan = from_dict(run.plan, where=f"plan stored with run {run_id}")
    model = testbed_zoo.load(cell.model)
    art = obtain(store, cell.converter, model, say=_say)  # this host's cache, the lab's store, else here
    # the lease's holder is this lab host's worker of the board in this run, not a process: a worker killed
    # mid-cell and started again (one worker per board: ``reclaim``) gets its board's live lease back
    holder = f"{socket.gethostname()}:{queue_of(cell.device)}:{run_id}"
    ctx = RunContext(store=store, run_id=run_id, plan=plan, holder=holder,
                     models={cell.model: model}, artifacts={(cell.model, cell.converter): art},
                     refs={cell.model: {}}, ui=LineUI(Console(stderr=True, highlight=False)))
    worker = BoardWorker(ctx, profiles.load(cell.device), [cell])
    worker.submit(cell)
    worker.no_more()
    worker.run()  # in this thread: the task ends when the cell is stored and the board let go
    final = next(c for c in store.plan_cells(run_id) if c.id == cell_id)
    return final.state


def reclaim(app: Any, board: str) -> int:
    """Before a board's worker starts: refuse when another live worker serves the board (one worker per
    board), else hand out again the cells of its queue that an earlier worker of it took and never
    acknowledged (killed, its host rebooted): nobody runs them now, so they need not wait out the
    visibility timeout. Redis only (the broker a lab uses); returns how many were handed out again."""
    from kombu.utils.encoding import bytes_to_str
    from kombu.utils.json import loads

    queue = queue_of(board)
    try:
        replies = app.control.inspect(timeout=2.0).active_queues() or {}
    except Exception as exc:  # kombu's OperationalError and the socket errors under it
        raise ConfigError(f"cannot reach the Celery broker {app.conf.broker_url}: {first_line(exc)}") from exc
    others = sorted(node for node, queues in replies.items() if any(q.get("name") == queue for q in queues or []))
    if others:
        raise ConfigError(f"board {board} is already served by {', '.join(others)}: one worker per board "
                          "(a board runs one cell at a time)")
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        mine = [tag for tag, payload in (client.hgetall(channel.unacked_key) or {}).items()
                if loads(bytes_to_str(payload))[2] == queue]  # [message, exchange, routing key]
        for tag in mine:
            channel.qos.restore_by_tag(bytes_to_str(tag), client)
    return len(mine)


def serve_conversions(app: Any, concurrency: int, ready: Any = None) -> None:
    """A Celery worker for the lab's conversion queue: ``concurrency`` conversions at once (each a
    process that imports the frameworks: ~2 GB)."""
    from celery.signals import worker_ready

    if ready is not None:
        worker_ready.connect(ready, weak=False)
    app.worker_main(["worker", "-Q", CONVERT_QUEUE, "-c", str(concurrency), "-P", "prefork",
                     "-n", f"convert.{os.getpid()}@{socket.gethostname()}", "--without-gossip", "--without-mingle",
                     "-O", "fair", "-l", "INFO"])


def serve(app: Any, board: str, ready: Any = None) -> None:
    """A Celery worker for one board's queue: one cell at a time (prefork, concurrency 1, prefetch 1)."""
    from celery.signals import worker_ready

    if ready is not None:
        worker_ready.connect(ready, weak=False)
    queue = queue_of(board)
    app.worker_main(["worker", "-Q", queue, "-c", "1", "-P", "prefork", "-n", f"{queue}@{socket.gethostname()}",
                     "--without-gossip", "--without-mingle", "-O", "fair", "-l", "INFO"])
