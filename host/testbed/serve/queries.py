"""What the dashboard reads from the store, as typed rows: the boards and their state, the recent runs,
one cell across the runs of its plan. SELECTs only, through the store's (read-only) engine.

A board's state is what the store knows of it, not a live probe (the dashboard contacts no board):
its latest health check in a run, when it was last seen working, and who holds its lease now - the
controller of a run still executing on it (its heartbeat younger than ``LIVE_S``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..store import FINISHED, Store
from ..store.schema import Deployment, PlanBoard, PlanCell, PlanRun, Result
from ..verdicts import COUNTS_AS_REGRESSION

#: a run's controller refreshes its heartbeat every 10 s and a resume may take over after 60 s
#: (engine/run.py): a heartbeat younger than this is a controller alive, holding its boards
LIVE_S = 60.0


def utcnow() -> datetime:
    """Now in the store's convention: naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class RunRow:
    """A run (plan or deploy) as the lists show it."""

    id: str
    kind: str  # plan | deploy
    plan_name: str
    status: str  # running | done | interrupted | failed
    created_at: datetime
    finished_at: datetime | None
    devices: list[str]
    models: list[str]
    done: int  # cells finished (done or failed)
    total: int
    failed: int
    regressions: int | None  # None: not judged yet
    baseline_id: str | None


@dataclass(frozen=True)
class BoardState:
    """A board as the store last saw it."""

    device: str
    health: str  # its latest check: ok | bad | busy | lost | pending
    reason: str | None  # why it is not ok
    checked_at: datetime | None  # when that check was made
    last_seen: datetime | None  # last time it answered: a check passed, a cell finished on it
    lease_holder: str | None  # the controller holding it now ("host:pid", run id), else None
    last_run: str  # the run of that check
    agent: str  # hostname, machine, CPU from the agent's /v1/info


@dataclass(frozen=True)
class CellRef:
    """One cell of one run: what identifies it across runs (plan and key) and what it is."""

    id: int
    run_id: str
    plan_name: str
    key: str
    device: str
    model: str
    converter: str
    runtime: str
    threads: int | None
    state: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.converter}" + (f" t{self.threads}" if self.threads else "")


@dataclass(frozen=True)
class NightPoint:
    """The cell in one run of its plan: the median latency of each repeat and the stored verdict."""

    run_id: str
    created_at: datetime
    cell_id: int
    state: str
    p50s_ms: list[float]  # one per measured repeat (empty: nothing measured)
    verdict: str | None
    reason: str | None

    @property
    def median_ms(self) -> float | None:
        return sorted(self.p50s_ms)[len(self.p50s_ms) // 2] if self.p50s_ms else None

    @property
    def regressed(self) -> bool:
        return self.verdict in COUNTS_AS_REGRESSION


def recent_runs(store: Store, kind: str | None = None, limit: int = 30,
                plan_name: str | None = None) -> list[RunRow]:
    """The newest runs (of one ``kind``, of one plan), newest first, with their cell counts."""
    with Session(store.engine) as s:
        q = select(PlanRun)
        if kind is not None:
            q = q.where(PlanRun.kind == kind)
        if plan_name is not None:
            q = q.where(PlanRun.plan_name == plan_name)
        runs = list(s.scalars(q.order_by(PlanRun.created_at.desc(), PlanRun.id.desc()).limit(limit)))
        cells = s.execute(select(PlanCell.run_id, PlanCell.device, PlanCell.model, PlanCell.state)
                          .where(PlanCell.run_id.in_([r.id for r in runs])).order_by(PlanCell.id)).all()
    out = []
    for run in runs:
        mine = [c for c in cells if c.run_id == run.id]
        out.append(RunRow(id=run.id, kind=run.kind, plan_name=run.plan_name, status=run.status,
                          created_at=run.created_at, finished_at=run.finished_at,
                          devices=sorted({c.device for c in mine}), models=list(dict.fromkeys(c.model for c in mine)),
                          done=sum(c.state in FINISHED for c in mine), total=len(mine),
                          failed=sum(c.state == "failed" for c in mine), regressions=run.regressions,
                          baseline_id=run.baseline_id))
    return out


def boards(store: Store, now: datetime | None = None) -> list[BoardState]:
    """Every board the store has seen in a run, by name, with its latest state."""
    now = now or utcnow()
    with Session(store.engine) as s:
        rows = s.execute(select(PlanBoard, PlanRun).join(PlanRun, PlanRun.id == PlanBoard.run_id)
                         .order_by(PlanRun.created_at, PlanRun.id)).all()
        cell_seen = dict(s.execute(select(PlanCell.device, func.max(PlanCell.finished_at))
                                   .where(PlanCell.state.in_(FINISHED)).group_by(PlanCell.device)).all())
        dep_seen = dict(s.execute(select(Deployment.device, func.max(Deployment.created_at))
                                  .group_by(Deployment.device)).all())
    latest: dict[str, tuple[PlanBoard, PlanRun]] = {}
    ok_seen: dict[str, datetime] = {}
    for board, run in rows:
        latest[board.device] = (board, run)
        if board.status == "ok" and board.checked_at is not None:
            ok_seen[board.device] = max(board.checked_at, ok_seen.get(board.device, board.checked_at))
    out = []
    for device in sorted(latest):
        board, run = latest[device]
        seen = [t for t in (ok_seen.get(device), cell_seen.get(device), dep_seen.get(device)) if t is not None]
        info = board.agent_info or {}
        out.append(BoardState(device=device, health=board.status, reason=board.reason, checked_at=board.checked_at,
                              last_seen=max(seen) if seen else None, lease_holder=_holder(board, run, now),
                              last_run=run.id,
                              agent=" · ".join(str(info[k]) for k in ("hostname", "machine", "cpu") if info.get(k))))
    return out


def _holder(board: PlanBoard, run: PlanRun, now: datetime) -> str | None:
    """The controller holding the board: its run still executes there and its heartbeat is fresh."""
    if run.status != "running" or board.status not in ("ok", "pending") or not run.owner:
        return None
    if run.heartbeat_at is None or now - run.heartbeat_at > timedelta(seconds=LIVE_S):
        return None
    return f"{run.owner} (run {run.id})"


def board_runs(store: Store, device: str, limit: int = 50) -> list[tuple[RunRow, PlanBoard]]:
    """The board's newest runs (its check in each), newest first."""
    with Session(store.engine) as s:
        checks = {b.run_id: b for b in s.scalars(select(PlanBoard).where(PlanBoard.device == device))}
    runs = [r for r in recent_runs(store, limit=10 * limit) if r.id in checks][:limit]
    return [(r, checks[r.id]) for r in runs]


def cell(store: Store, cell_id: int) -> CellRef | None:
    with Session(store.engine) as s:
        row = s.execute(select(PlanCell, PlanRun.plan_name).join(PlanRun, PlanRun.id == PlanCell.run_id)
                        .where(PlanCell.id == cell_id)).first()
    if row is None:
        return None
    c, plan_name = row
    return CellRef(id=c.id, run_id=c.run_id, plan_name=plan_name, key=c.key, device=c.device, model=c.model,
                   converter=c.converter, runtime=c.runtime, threads=c.threads, state=c.state)


def history(store: Store, plan_name: str, keys: list[str], until: datetime | None = None,
            limit_runs: int = 60) -> dict[str, list[NightPoint]]:
    """Each cell key's points across the newest ``limit_runs`` runs of the plan (up to ``until``), oldest
    first; a run in which the key was not a cell has no point."""
    if not keys:
        return {}
    with Session(store.engine) as s:
        q = select(PlanRun.id, PlanRun.created_at).where(PlanRun.plan_name == plan_name)
        if until is not None:
            q = q.where(PlanRun.created_at <= until)
        runs = s.execute(q.order_by(PlanRun.created_at.desc(), PlanRun.id.desc()).limit(limit_runs)).all()
        when = {r.id: r.created_at for r in runs}
        cells = list(s.scalars(select(PlanCell).where(PlanCell.run_id.in_(list(when)), PlanCell.key.in_(keys))))
        p50s: dict[int, list[float]] = {}
        for cell_id, p50 in s.execute(select(Result.cell_id, Result.latency_p50_ms)
                                      .where(Result.cell_id.in_([c.id for c in cells]), Result.status == "ok")
                                      .order_by(Result.id)):
            if p50 is not None and cell_id is not None:
                p50s.setdefault(cell_id, []).append(float(p50))
    out: dict[str, list[NightPoint]] = {k: [] for k in keys}
    for c in sorted(cells, key=lambda c: (when[c.run_id], c.run_id)):
        verdict: dict[str, Any] = c.verdict or {}
        out[c.key].append(NightPoint(run_id=c.run_id, created_at=when[c.run_id], cell_id=c.id, state=c.state,
                                     p50s_ms=p50s.get(c.id, []) if c.state == "done" else [],
                                     verdict=verdict.get("verdict"), reason=verdict.get("reason") or c.error))
    return out
