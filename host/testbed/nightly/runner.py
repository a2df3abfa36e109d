"""`testbed run`: start a plan run (or resume one), convert, measure on every board in parallel, judge.

    start(plan, store)        a new run: every cell pending, committed before anything is measured
    resume(run_id, store)     the unfinished cells of an earlier run (done and failed cells are kept)
    judge(run_id, store)      verdicts of every cell against the baseline run

A crash or Ctrl-C leaves the cells that finished committed; the one in flight is redone by a resume.
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
from .. import verdicts as V
from ..errors import ConfigError
from ..store import FINISHED, Store
from .board import BoardWorker, Connector, RunContext, connect_profile
from .plan import Plan, deploy_options, expand, from_dict, resolve_devices
from .ui import RunUI, SilentUI

Progress = Callable[[str], None]
HEARTBEAT_S = 10.0  # the executing controller refreshes plan_runs.heartbeat_at this often...
STALE_S = 60.0  # ...and a run whose heartbeat is older than this may be taken over by a --resume


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


@dataclass
class RunOutcome:
    run_id: str
    status: str  # done | interrupted
    baseline_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # cell states
    verdicts: dict[str, int] = field(default_factory=dict)  # verdict -> cells
    regressions: int = 0
    boards: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # device -> (status, reason)

    @property
    def exit_code(self) -> int:
        """0 clean; 1 regressions (or cells broken since the baseline); 3 incomplete (boards bad/busy/lost,
        cells skipped or in error) or interrupted."""
        if self.regressions:
            return 1
        if self.status != "done" or any(self.counts.get(s) for s in ("error", "skipped", "pending", "running")):
            return 3
        return 0


def start(plan: Plan, store: Store, *, baseline: str | None = None, ui: RunUI | None = None,
          connect: Connector = connect_profile, stop: threading.Event | None = None,
          progress: Progress = lambda msg: None) -> RunOutcome:
    boards = resolve_devices(plan)
    cells = expand(plan, boards)
    for threads in plan.threads:  # a measure option this deploy lacks fails now, not at the first cell
        deploy_options(plan, threads, plan.execution.cell_timeout_s)
    if baseline is not None:
        baseline = store.find_plan_run(baseline).id
    run_id = new_run_id()
    store.create_plan_run(run_id, plan.name or "plan", plan.to_json(), plan.sha256(), socket.gethostname(),
                          __version__, cells, [b.id for b in boards], baseline_id=baseline)
    claim(store, run_id)
    return execute(run_id, store, plan, boards, ui=ui, connect=connect, stop=stop, progress=progress)


def resume(run_id: str, store: Store, *, ui: RunUI | None = None, connect: Connector = connect_profile,
           stop: threading.Event | None = None, progress: Progress = lambda msg: None) -> RunOutcome:
    run = store.find_plan_run(run_id)
    plan = from_dict(run.plan, where=f"plan stored with run {run.id}")
    claim(store, run.id)  # before anything is reset: a run still executing elsewhere is left alone
    redo = store.reset_unfinished(run.id)
    progress(f"resuming {run.id}: {redo} unfinished cell(s)")
    devices = sorted({c.device for c in store.plan_cells(run.id) if c.state not in FINISHED})
    boards = []
    for device in devices:
        try:
            boards.append(profiles.load(device))
        except ConfigError as exc:
            store.set_board(run.id, device, "bad", f"profile: {exc}")
            store.mark_cells([c.id for c in store.plan_cells(run.id) if c.device == device], "skipped",
                             f"board bad: profile: {exc}")
    return execute(run.id, store, plan, boards, ui=ui, connect=connect, stop=stop, progress=progress)


def _prepare(cells: list[Any], progress: Progress) -> tuple[dict, dict, dict]:
    """Convert what the unfinished cells need (content-cached), and compute every reference output in
    this thread before the board threads start (framework code is not shared across threads)."""
    import testbed_zoo

    from ..converters import registry
    from ..converters.cache import build
    from ..deploy import reference_inputs

    models: dict[str, Any] = {}
    artifacts: dict[tuple[str, str], Any] = {}
    refs: dict[str, dict] = {}
    for cell in cells:
        if cell.model not in models:
            models[cell.model] = testbed_zoo.load(cell.model)
            refs[cell.model] = {}
        pair = (cell.model, cell.converter)
        if pair not in artifacts:
            progress(f"converting {cell.model} with {cell.converter}")
            artifacts[pair] = art = build(registry.get(cell.converter), models[cell.model])
            if art.status == "ok":
                reference_inputs(models[cell.model], art, refs[cell.model])
    return models, artifacts, refs


def execute(run_id: str, store: Store, plan: Plan, boards: list, *, ui: RunUI | None = None,
            connect: Connector = connect_profile, stop: threading.Event | None = None,
            progress: Progress = lambda msg: None) -> RunOutcome:
    ui = ui or SilentUI()
    stop = stop or threading.Event()
    pending = [c for c in store.plan_cells(run_id) if c.state not in FINISHED]
    workers: list[BoardWorker] = []
    interrupted = False
    me = owner_id()
    beating = threading.Event()
    heart = threading.Thread(target=_heartbeat, args=(store, run_id, me, beating), name="run-heartbeat", daemon=True)
    heart.start()
    try:
        models, artifacts, refs = _prepare(pending, progress)
        ctx = RunContext(store=store, run_id=run_id, plan=plan,
                         holder=f"{me}:{run_id}", models=models,
                         artifacts=artifacts, refs=refs, ui=ui, connect=connect, stop=stop)
        workers = [BoardWorker(ctx, b, [c for c in pending if c.device == b.id]) for b in boards]
        workers = [w for w in workers if w.cells]
        for w in workers:
            w.start()
        for w in workers:
            while not w.finished.wait(0.2):
                pass
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        ui.message("interrupted: the cells that finished are stored; "
                   f"`testbed run --resume {run_id}` does the rest")
        for w in workers:
            if w.ident is not None and not w.finished.wait(3.0):
                w.abort()  # still waiting on a board run: drop its lease and connection (a local agent is
                w.finished.wait(10.0)  # stopped) so nothing is left running; it exits on its next call
    finally:
        beating.set()
        heart.join(timeout=5)
    if stop.is_set():
        interrupted = True
    status = "interrupted" if interrupted else "done"
    store.finish_plan_run(run_id, status)
    store.release_plan_run(run_id, me)
    outcome = judge(run_id, store)
    outcome.status = status
    return outcome


def _heartbeat(store: Store, run_id: str, owner: str, done: threading.Event) -> None:
    while not done.wait(HEARTBEAT_S):
        try:
            store.heartbeat_plan_run(run_id, owner)
        except Exception:  # noqa: BLE001 - a store hiccup must not kill the run; the next beat retries
            pass


def baseline_for(store: Store, run: Any) -> Any | None:
    """The run's explicit baseline, else the last good run of the same plan before it."""
    if run.baseline_id:
        return store.plan_run(run.baseline_id)
    return store.last_good_run(run.plan_name, before=run.created_at)


def compare_cells(store: Store, run_id: str, baseline_id: str | None,
                  thresholds: V.Thresholds) -> list[tuple[Any, dict]]:
    """Each cell of ``run_id`` with its verdict against the same cell (key) of ``baseline_id``."""
    cells = store.plan_cells(run_id)
    base_cells = {c.key: c for c in store.plan_cells(baseline_id)} if baseline_id else {}
    results = store.cell_results([c.id for c in cells] + [c.id for c in base_cells.values()])
    out = []
    for c in cells:
        cur = V.CellData.from_results(results[c.id]) if c.state in FINISHED else None
        b = base_cells.get(c.key)
        base = V.CellData.from_results(results[b.id]) if b is not None and b.state in FINISHED else None
        if cur is not None and c.state == "failed" and not results[c.id]:
            cur = V.CellData(ok=False, error=c.error)
        out.append((c, V.cell_verdict(base, cur, thresholds)))
    return out


def judge(run_id: str, store: Store, baseline_id: str | None = None) -> RunOutcome:
    """Verdicts of every cell against the baseline (stored on the cells); the run's outcome."""
    run = store.find_plan_run(run_id)
    plan = from_dict(run.plan, where=f"plan stored with run {run.id}")
    base = store.plan_run(baseline_id) if baseline_id else baseline_for(store, run)
    judged = compare_cells(store, run.id, base.id if base else None, V.Thresholds.from_plan(plan.verdict))
    regressions = sum(v["verdict"] in V.COUNTS_AS_REGRESSION for _, v in judged)
    store.set_verdicts(run.id, base.id if base else None, {c.id: v for c, v in judged}, regressions)
    counts: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for c, v in judged:
        counts[c.state] = counts.get(c.state, 0) + 1
        verdicts[v["verdict"]] = verdicts.get(v["verdict"], 0) + 1
    boards = {b.device: (b.status, b.reason) for b in store.plan_boards(run.id)}
    return RunOutcome(run_id=run.id, status=store.find_plan_run(run.id).status, baseline_id=base.id if base else None,
                      counts=counts, verdicts=verdicts, regressions=regressions, boards=boards)
