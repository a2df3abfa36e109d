"""The engine: a run is a plan of cells (board x model x variant x threads); `testbed run --plan` and
`testbed deploy` (a plan of one board) both go through here, and so does every ``--resume``.

    start(plan, boards, cells, store)   store the run and every cell (pending), then execute it
    resume(run_id, store)               reset the unfinished cells of a stored run and execute it again
    execute(run_id, ...)                convert (worker processes) and measure (the executor) at once

A crash or Ctrl-C leaves the cells that finished committed; the ones in flight are redone by a resume.
One controller executes a run at a time (``claim``; the owner's heartbeat every ``HEARTBEAT_S``).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import __version__, profiles
from ..errors import ConfigError, TestbedError
from ..profiles import Profile
from ..store import FINISHED, Store
from ..transports.capabilities import SharesThisMachine, has
from .artifacts import Conversions
from .context import Connector, RunContext, connect_profile
from .executor import Executor, ThreadExecutor
from .measure import reference_inputs
from .plan import Plan, deploy_options, from_dict, resolve_devices
from .ui import RunUI, SilentUI

Progress = Callable[[str], None]
ExecutorFactory = Callable[[RunContext, list[Profile], list[Any]], Executor]
HEARTBEAT_S = 10.0  # the executing controller refreshes plan_runs.heartbeat_at this often...
STALE_S = 60.0  # ...and a run whose heartbeat is older than this may be taken over by a --resume


@dataclass
class RunResult:
    run_id: str
    status: str  # done | interrupted
    boards: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # device -> (outcome, reason)
    convert_s: float | None = None  # wall time until the last artifact was ready (None: none converted)


@dataclass
class Options:
    """How one execution goes (not stored with the run)."""

    ui: RunUI = field(default_factory=SilentUI)
    connect: Connector = connect_profile
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress = lambda msg: None
    executor: ExecutorFactory = ThreadExecutor
    resume_hint: str = "testbed run --resume"  # the command that finishes an interrupted run
    overlap: bool = True  # False: convert everything first, then measure (bench/overlap.py's "before")


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_owners(owner: str | None) -> list[str]:
    """The run's owner when it is a process of this host that no longer exists (killed, crashed)."""
    if not owner or ":" not in owner:
        return []
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return []
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return [owner]
    except PermissionError:
        return []
    return []


def claim(store: Store, run_id: str) -> str:
    """Become the run's only executor, or ConfigError naming the controller that runs it now."""
    me = owner_id()
    holder = store.claim_plan_run(run_id, me, STALE_S, dead=_dead_owners(store.plan_run_owner(run_id)))
    if holder is not None:
        raise ConfigError(f"run {run_id} is being executed by {holder}: a second controller would measure "
                          f"the same cells twice; wait for it to finish (or stop it), or retry when its "
                          f"heartbeat is over {STALE_S:.0f} s old")
    return me


def new_run_id() -> str:
    """Sortable and readable: ``20250131-020000-1a2b``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def start(plan: Plan, boards: list[Profile], cells: list[dict], store: Store, *, kind: str = "plan",
          baseline: str | None = None, options: Options | None = None) -> RunResult:
    """A new run of ``cells`` (PlanCell rows as dicts) on ``boards``: stored, claimed, executed."""
    for threads in plan.threads:  # a measure option this deploy lacks fails now, not at the first cell
        deploy_options(plan, threads, plan.execution.cell_timeout_s)
    run_id = new_run_id()
    store.create_plan_run(run_id, plan.name or "plan", plan.to_json(), plan.sha256(), socket.gethostname(),
                          __version__, cells, [b.id for b in boards], baseline_id=baseline, kind=kind)
    claim(store, run_id)
    return execute(run_id, store, plan, boards, options or Options())


def resume(run_id: str, store: Store, options: Options | None = None) -> RunResult:
    """Finish a stored run (a plan run or a deploy): redo every cell that is not done or failed."""
    options = options or Options()
    run = store.find_plan_run(run_id)
    plan = from_dict(run.plan, where=f"plan stored with run {run.id}")
    claim(store, run.id)  # before anything is reset: a run still executing elsewhere is left alone
    redo = store.reset_unfinished(run.id)
    options.progress(f"resuming {run.id}: {redo} unfinished cell(s)")
    devices = sorted({c.device for c in store.plan_cells(run.id) if c.state not in FINISHED})
    return execute(run.id, store, plan, _boards(store, run.id, plan, devices), options)


def _boards(store: Store, run_id: str, plan: Plan, devices: list[str]) -> list[Profile]:
    """The profiles of ``devices``: as the plan names them (an id or a profile file), else by id; a
    board whose profile is gone is marked bad and its cells skipped."""
    named: dict[str, Profile] = {}
    try:
        named = {p.id: p for p in resolve_devices(plan)}
    except ConfigError:
        pass  # one of them is gone: load the others one by one below
    boards = []
    for device in devices:
        try:
            boards.append(named.get(device) or profiles.load(device))
        except ConfigError as exc:
            store.set_board(run_id, device, "bad", f"profile: {exc}")
            store.mark_cells([c.id for c in store.plan_cells(run_id) if c.device == device], "skipped",
                             f"board bad: profile: {exc}")
    return boards


def execute(run_id: str, store: Store, plan: Plan, boards: list[Profile], options: Options) -> RunResult:
    """Convert every artifact the unfinished cells need, in worker processes, and submit each cell to
    the executor as soon as its artifact is ready: measurement overlaps conversion.

    Except with a ``local`` board: that board measures on this machine, so no cell is submitted
    before the last conversion has finished (convert all, then measure). Its board worker holds this
    machine's measurement lock from the start, so no other testbed process measures here while we
    convert either."""
    stop, ui = options.stop, options.ui
    pending = [c for c in store.plan_cells(run_id) if c.state not in FINISHED]
    me = owner_id()
    beating = threading.Event()
    heart = threading.Thread(target=_heartbeat, args=(store, run_id, me, beating), name="run-heartbeat", daemon=True)
    heart.start()
    executor: Executor | None = None
    conversions: Any = None  # artifacts.Conversions, or the executor's own (celery_conversions)
    interrupted = False
    try:
        import testbed_zoo

        models = {m: testbed_zoo.load(m) for m in dict.fromkeys(c.model for c in pending)}
        ctx = RunContext(store=store, run_id=run_id, plan=plan, holder=f"{me}:{run_id}", models=models,
                         artifacts={}, refs={m: {} for m in models}, ui=ui, connect=options.connect, stop=stop)
        executor = _executor_factory(plan, options)(ctx, boards, pending)
        make_conversions = getattr(executor, "conversions", Conversions)  # a lab executor converts lab-wide
        conversions = make_conversions(models, [(c.model, c.converter) for c in pending], options.progress)
        hold = not options.overlap or any(has(b.transport, SharesThisMachine) for b in boards)
        held: list[Any] = []
        for pair, art in conversions.ready(stop):
            ctx.artifacts[pair] = art
            if art.status == "ok":  # reference outputs here, in the main thread, once per (source, layout)
                reference_inputs(models[pair[0]], art, ctx.refs[pair[0]])
            cells = [c for c in pending if (c.model, c.converter) == pair]
            if hold:
                held += cells
            else:
                for cell in cells:
                    executor.submit(cell)
        for cell in held:
            executor.submit(cell)
        executor.close()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        ui.message("interrupted: the cells that finished are stored; "
                   f"`{options.resume_hint} {run_id}` does the rest")
        if conversions is not None:
            conversions.close(abort=True)
        if executor is not None:
            executor.abort()
    except TestbedError as exc:
        store.finish_plan_run(run_id, "failed", str(exc))
        raise
    finally:
        beating.set()
        heart.join(timeout=5)
        if conversions is not None:
            conversions.close(abort=True)
        store.release_plan_run(run_id, me)
    if stop.is_set():
        interrupted = True
    status = "interrupted" if interrupted else "done"
    store.finish_plan_run(run_id, status)
    return RunResult(run_id=run_id, status=status, boards=executor.boards() if executor else {},
                     convert_s=conversions.seconds if conversions else None)


def _executor_factory(plan: Plan, options: Options) -> ExecutorFactory:
    """The plan's ``engine: celery`` sends cells to `testbed worker`s, unless a caller chose its own."""
    if plan.engine == "celery" and options.executor is ThreadExecutor:
        from .celery_executor import CeleryExecutor

        return CeleryExecutor
    return options.executor


def _heartbeat(store: Store, run_id: str, owner: str, done: threading.Event) -> None:
    while not done.wait(HEARTBEAT_S):
        try:
            store.heartbeat_plan_run(run_id, owner)
        except Exception:  # noqa: BLE001 - a store hiccup must not kill the run; the next beat retries
            pass
