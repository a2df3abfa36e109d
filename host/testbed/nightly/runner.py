"""`testbed run`: a plan's cells on every board, through the engine (``testbed.engine``), then judged.

    start(plan, store)        a new run: every cell pending, committed before anything is measured
    resume(run_id, store)     the unfinished cells of an earlier run (done and failed cells are kept)
    judge(run_id, store)      verdicts of every cell against the baseline run
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import verdicts as V
from ..engine import run as engine
from ..engine.context import Connector, connect_profile
from ..engine.plan import Plan, expand, from_dict, resolve_devices
from ..engine.ui import RunUI, SilentUI
from ..store import FINISHED, Store

Progress = Callable[[str], None]


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
    """A new run of the plan on its boards (the engine), judged against its baseline."""
    boards = resolve_devices(plan)
    cells = expand(plan, boards)
    if baseline is not None:
        baseline = store.find_plan_run(baseline).id
    result = engine.start(plan, boards, cells, store, kind="plan", baseline=baseline,
                          options=_options(ui, connect, stop, progress))
    return _judged(result, store)


def resume(run_id: str, store: Store, *, ui: RunUI | None = None, connect: Connector = connect_profile,
           stop: threading.Event | None = None, progress: Progress = lambda msg: None) -> RunOutcome:
    """Finish a stored run (a plan run or a deploy): only its unfinished cells; then judge it."""
    return _judged(engine.resume(run_id, store, _options(ui, connect, stop, progress)), store)


def _options(ui: RunUI | None, connect: Connector, stop: threading.Event | None, progress: Progress) -> engine.Options:
    return engine.Options(ui=ui or SilentUI(), connect=connect, stop=stop or threading.Event(), progress=progress)


def _judged(result: engine.RunResult, store: Store) -> RunOutcome:
    outcome = judge(result.run_id, store)
    outcome.status = result.status
    return outcome


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
