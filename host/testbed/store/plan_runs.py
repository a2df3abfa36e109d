"""The store's plan runs (``testbed run``): runs, their boards and cells, who executes a run, verdicts.

A mixin of ``Store`` (``store.db``): the methods below use its ``engine`` and ``url``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..errors import ConfigError
from .rows import FINISHED, _now, read_results, result_row, rowcount
from .schema import PlanBoard, PlanCell, PlanRun, Result

#: Trust verdicts of results that are reruns of the board as it is (``rerun_history``).
REPEATABLE = ("steady", "noisy")


class PlanRunStore:
    engine: Engine
    url: str

    def create_plan_run(self, run_id: str, plan_name: str, plan: dict, plan_sha256: str, host: str,
                        host_version: str, cells: Iterable[dict], devices: Iterable[str],
                        baseline_id: str | None = None, kind: str = "plan") -> None:
        """The run (``kind``: plan, or deploy), its boards and all its cells (pending), in one transaction."""
        with Session(self.engine) as s:
            s.add(PlanRun(id=run_id, kind=kind, plan_name=plan_name, plan=plan, plan_sha256=plan_sha256,
                          created_at=_now(), status="running", host=host, host_version=host_version,
                          baseline_id=baseline_id))
            s.flush()
            for device in devices:
                s.add(PlanBoard(run_id=run_id, device=device, status="pending", agent_info={}))
            for cell in cells:
                s.add(PlanCell(run_id=run_id, state="pending", attempts=0, **cell))
            s.commit()

    def plan_run(self, run_id: str) -> PlanRun | None:
        with Session(self.engine) as s:
            return s.get(PlanRun, run_id)

    def find_plan_run(self, prefix: str) -> PlanRun:
        """The plan run whose id is ``prefix`` or starts with it (unambiguously); ConfigError otherwise."""
        with Session(self.engine) as s:
            exact = s.get(PlanRun, prefix)
            if exact is not None:
                return exact
            found = list(s.scalars(select(PlanRun).where(PlanRun.id.startswith(prefix, autoescape=True))
                                   .limit(3)))
        if len(found) == 1:
            return found[0]
        if not found:
            raise ConfigError(f"no run '{prefix}' in {self.url}; `testbed runs` lists them")
        raise ConfigError(f"'{prefix}' matches several runs ({', '.join(r.id for r in found)}...); give more of the id")

    def plan_runs(self, plan_name: str | None = None, limit: int = 20,
                  before: datetime | None = None) -> list[PlanRun]:
        """Plan runs, newest first."""
        with Session(self.engine) as s:
            q = select(PlanRun)
            if plan_name is not None:
                q = q.where(PlanRun.plan_name == plan_name)
            if before is not None:
                q = q.where(PlanRun.created_at < before)
            return list(s.scalars(q.order_by(PlanRun.created_at.desc(), PlanRun.id.desc()).limit(limit)))

    def run_summaries(self, limit: int = 30) -> list[dict[str, Any]]:
        """The newest runs of the engine (plans and deploys), newest first: id, kind, devices, models,
        status, created_at, cells done (done or failed) and in total."""
        with Session(self.engine) as s:
            runs = list(s.scalars(select(PlanRun).order_by(PlanRun.created_at.desc(), PlanRun.id.desc())
                                  .limit(limit)))
            ids = [r.id for r in runs]
            cells = s.execute(select(PlanCell.run_id, PlanCell.device, PlanCell.model, PlanCell.state)
                              .where(PlanCell.run_id.in_(ids))).all()
        out = []
        for run in runs:
            mine = [c for c in cells if c.run_id == run.id]
            out.append({"id": run.id, "kind": run.kind, "status": run.status, "created_at": run.created_at,
                        "devices": sorted({c.device for c in mine}),
                        "models": list(dict.fromkeys(c.model for c in mine)),
                        "done": sum(c.state in FINISHED for c in mine), "total": len(mine)})
        return out

    def last_good_run(self, plan_name: str, before: datetime) -> PlanRun | None:
        """The newest earlier run of the plan that finished (status done) with no regressions."""
        with Session(self.engine) as s:
            q = (select(PlanRun).where(PlanRun.plan_name == plan_name, PlanRun.created_at < before,
                                       PlanRun.status == "done", func.coalesce(PlanRun.regressions, 0) == 0)
                 .order_by(PlanRun.created_at.desc()).limit(1))
            return s.scalars(q).first()

    def update_plan_run(self, run_id: str, **fields: Any) -> None:
        with Session(self.engine) as s:
            s.execute(update(PlanRun).where(PlanRun.id == run_id).values(**fields))
            s.commit()

    def finish_plan_run(self, run_id: str, status: str, error: str | None = None) -> None:
        self.update_plan_run(run_id, status=status, error=error, finished_at=_now())

    # -- who executes a run: one controller at a time (start, resume) ---------------------------
    def claim_plan_run(self, run_id: str, owner: str, stale_s: float, dead: Iterable[str] = ()) -> str | None:
        """Make ``owner`` the run's executor, atomically, unless another owner's heartbeat is younger
        than ``stale_s`` (``dead``: owners known to be gone, e.g. a PID of this host that no longer
        exists, are taken over at once). Returns None when claimed, else the live owner and its age."""
        cutoff = _now() - timedelta(seconds=stale_s)
        free = ((PlanRun.owner.is_(None)) | (PlanRun.owner == owner) | (PlanRun.heartbeat_at.is_(None))
                | (PlanRun.heartbeat_at < cutoff))
        dead = list(dead)
        if dead:
            free = free | PlanRun.owner.in_(dead)
        with Session(self.engine) as s:
            n = rowcount(s.execute(update(PlanRun).where(PlanRun.id == run_id, free)
                                    .values(owner=owner, heartbeat_at=_now())))
            s.commit()
            if n:
                return None
            run = s.get(PlanRun, run_id)
            if run is None:
                raise ConfigError(f"no plan run '{run_id}' in {self.url}")
            age = (_now() - run.heartbeat_at).total_seconds() if run.heartbeat_at else float("nan")
            return f"{run.owner} (alive {age:.0f} s ago)"

    def plan_run_owner(self, run_id: str) -> str | None:
        with Session(self.engine) as s:
            run = s.get(PlanRun, run_id)
            return run.owner if run is not None else None

    def heartbeat_plan_run(self, run_id: str, owner: str) -> bool:
        """Refresh the owner's heartbeat; False when the run is no longer this owner's."""
        with Session(self.engine) as s:
            n = rowcount(s.execute(update(PlanRun).where(PlanRun.id == run_id, PlanRun.owner == owner)
                                    .values(heartbeat_at=_now())))
            s.commit()
        return bool(n)

    def release_plan_run(self, run_id: str, owner: str) -> None:
        with Session(self.engine) as s:
            s.execute(update(PlanRun).where(PlanRun.id == run_id, PlanRun.owner == owner)
                      .values(owner=None, heartbeat_at=None))
            s.commit()

    def plan_boards(self, run_id: str) -> list[PlanBoard]:
        with Session(self.engine) as s:
            return list(s.scalars(select(PlanBoard).where(PlanBoard.run_id == run_id).order_by(PlanBoard.device)))

    def set_board(self, run_id: str, device: str, status: str, reason: str | None = None,
                  agent_info: dict | None = None) -> None:
        values: dict[str, Any] = {"status": status, "reason": reason, "checked_at": _now()}
        if agent_info is not None:
            values["agent_info"] = agent_info
        with Session(self.engine) as s:
            s.execute(update(PlanBoard).where(PlanBoard.run_id == run_id, PlanBoard.device == device)
                      .values(**values))
            s.commit()

    def plan_cells(self, run_id: str) -> list[PlanCell]:
        with Session(self.engine) as s:
            return list(s.scalars(select(PlanCell).where(PlanCell.run_id == run_id).order_by(PlanCell.id)))

    def start_cell(self, cell_id: int) -> None:
        with Session(self.engine) as s:
            s.execute(update(PlanCell).where(PlanCell.id == cell_id)
                      .values(state="running", started_at=_now(), attempts=PlanCell.attempts + 1))
            s.commit()

    def mark_cells(self, cell_ids: Iterable[int], state: str, error: str | None) -> None:
        """Set state and reason of unfinished cells (skipped, error): they stay resumable."""
        ids = list(cell_ids)
        if not ids:
            return
        with Session(self.engine) as s:
            s.execute(update(PlanCell).where(PlanCell.id.in_(ids), PlanCell.state.not_in(FINISHED))
                      .values(state=state, error=error, finished_at=_now()))
            s.commit()

    def finish_cell(self, cell_id: int, state: str, error: str | None, deployment_id: str | None,
                    results: Iterable[tuple[dict, list[int], list]]) -> None:
        """A finished cell and every one of its results, in ONE transaction: a crash leaves either the
        whole cell or nothing of it."""
        with Session(self.engine) as s:
            for record, samples, power_samples in results:
                assert deployment_id is not None
                s.add(result_row(deployment_id, record, samples, power_samples, cell_id=cell_id))
            s.execute(update(PlanCell).where(PlanCell.id == cell_id)
                      .values(state=state, error=error, deployment_id=deployment_id, finished_at=_now()))
            s.commit()

    def reset_unfinished(self, run_id: str) -> int:
        """Before a resume: every cell that is not done/failed goes back to pending; returns how many."""
        with Session(self.engine) as s:
            n = rowcount(s.execute(update(PlanCell).where(PlanCell.run_id == run_id, PlanCell.state.not_in(FINISHED))
                                    .values(state="pending", error=None)))
            s.execute(update(PlanRun).where(PlanRun.id == run_id)
                      .values(status="running", finished_at=None, error=None))
            s.commit()
        return int(n or 0)

    def cell_results(self, cell_ids: Iterable[int]) -> dict[int, list[Result]]:
        """Results per cell id (repeats in order), their records upgraded to the current version."""
        ids = list(cell_ids)
        out: dict[int, list[Result]] = {i: [] for i in ids}
        if not ids:
            return out
        with Session(self.engine) as s:
            rows = list(s.scalars(select(Result).where(Result.cell_id.in_(ids)).order_by(Result.id)))
        for res in read_results(rows):
            out[res.cell_id].append(res)  # type: ignore[index]
        return out

    def set_verdicts(self, run_id: str, baseline_id: str | None, verdicts: dict[int, dict],
                     regressions: int) -> None:
        with Session(self.engine) as s:
            for cell_id, verdict in verdicts.items():
                s.execute(update(PlanCell).where(PlanCell.id == cell_id).values(verdict=verdict))
            s.execute(update(PlanRun).where(PlanRun.id == run_id)
                      .values(baseline_id=baseline_id, regressions=regressions))
            s.commit()

    def cell_history(self, plan_name: str, keys: Iterable[str], limit_runs: int = 30,
                     until: datetime | None = None) -> list[tuple[str, str, list[float]]]:
        """For the newest ``limit_runs`` runs of the plan (up to ``until``), each done cell among ``keys``:
        ``(run id, key, [median latency ms of each repeat])``, oldest run first. Reads no raw samples."""
        runs = self.plan_runs(plan_name, limit=limit_runs)
        if until is not None:
            runs = [r for r in runs if r.created_at <= until]
        keys = list(keys)
        if not runs or not keys:
            return []
        order = {r.id: (r.created_at, r.id) for r in runs}
        with Session(self.engine) as s:
            q = (select(PlanCell.run_id, PlanCell.key, Result.latency_p50_ms)
                 .join(Result, Result.cell_id == PlanCell.id)
                 .where(PlanCell.run_id.in_(list(order)), PlanCell.key.in_(keys), PlanCell.state == "done",
                        Result.status == "ok")
                 .order_by(Result.id))
            found: dict[tuple[str, str], list[float]] = {}
            for run_id, key, p50 in s.execute(q):
                if p50 is not None:
                    found.setdefault((run_id, key), []).append(float(p50))
        return sorted(((r, k, v) for (r, k), v in found.items()), key=lambda t: order[t[0]])

    def rerun_history(self, device: str, runtime: str, limit: int = 500) -> list[tuple[str, float]]:
        """Of the newest ``limit`` ok results of ``runtime`` on ``device`` that belong to a cell, the reruns, as
        ``(variant, median ms)`` (``rerun_spread``). The variant is the cell key, the artifact's sha256,
        the runtime's version and the preset: the same bytes measured again the same way. Left out: results
        whose trust verdict is contended or throttled (measured beside other load, or slowed by heat: not
        a rerun of the board as it is), or that have none (records from before trust verdicts), and
        sustained runs. Reads no raw samples and no whole records."""
        record = Result.record
        with Session(self.engine) as s:
            q = (select(PlanCell.key, Result.artifact_sha256, Result.latency_p50_ms,
                        record["runtime_version"].as_string(), record[("measurement", "preset")].as_string(),
                        record[("trust", "verdict")].as_string(), record["sustain"].as_string())
                 .join(PlanCell, Result.cell_id == PlanCell.id)
                 .where(PlanCell.device == device, Result.runtime == runtime, Result.status == "ok",
                        Result.latency_p50_ms.is_not(None))
                 .order_by(Result.id.desc()).limit(limit))
            return [(f"{key}@{sha}@{version}@{preset}", float(p50))
                    for key, sha, p50, version, preset, verdict, sustain in s.execute(q)
                    if p50 is not None and verdict in REPEATABLE and sustain is None]
