"""Open the store and write to it; every result is committed the moment it exists.

Opening a store brings its tables up to date (``store.migrate``). ``Store`` writes deployments and
their results here, plan runs in ``store.plan_runs``; rows are built in ``store.rows``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..errors import ConfigError
from .artifact_blobs import ArtifactBlobStore
from .migrate import current_revision, default_url, head_revision, migrate, open_engine
from .plan_runs import PlanRunStore
from .rows import FINISHED, OPS_TABLE_KEY, _now, read_results, result_row
from .schema import Deployment, PlanCell, Result

__all__ = ["FINISHED", "OPS_TABLE_KEY", "Store", "current_revision", "default_url", "head_revision", "migrate"]


class Store(PlanRunStore, ArtifactBlobStore):
    def __init__(self, url: str | None = None, read_only: bool = False) -> None:
        """Open the store at ``url`` (default: ``default_url()``) and migrate it to the newest revision;
        ``read_only`` (`testbed serve`): the database refuses every write and nothing is migrated, so a
        store at another revision than this testbed's is a ConfigError saying what to do."""
        self.url = url or default_url()
        try:
            self.engine = open_engine(self.url, read_only=read_only)
            if read_only:
                self._check_revision()
            else:
                migrate(self.engine)
        except (SQLAlchemyError, ImportError, OSError, ValueError) as exc:
            raise ConfigError(f"cannot open results store {self.url}: {exc}".splitlines()[0]) from exc

    def _check_revision(self) -> None:
        with self.engine.connect() as conn:
            found = current_revision(conn)
        head = head_revision()
        if found != head:
            raise ConfigError(f"results store {self.url} is at revision {found or 'none'}, this testbed reads "
                              f"{head}: open it once with a command that writes (e.g. `testbed runs --db URL`) "
                              "to upgrade it, or use the testbed that wrote it")

    # --- deployments (testbed deploy; one board x model inside a plan run) -------------------------

    def start_deployment(self, device: str, model: str, host_version: str) -> str:
        dep_id = uuid.uuid4().hex[:12]
        with Session(self.engine) as s:
            s.add(Deployment(id=dep_id, created_at=_now(), device=device, model=model,
                             host_version=host_version, agent_info={}, status="running"))
            s.commit()
        return dep_id

    def update_deployment(self, dep_id: str, **fields: object) -> None:
        with Session(self.engine) as s:
            dep = s.get(Deployment, dep_id)
            assert dep is not None
            for key, value in fields.items():
                setattr(dep, key, value)
            s.commit()

    def add_result(self, dep_id: str, record: dict, samples_ns: list[int],
                   power_samples: list | None = None, ops: dict | None = None) -> None:
        with Session(self.engine) as s:
            s.add(result_row(dep_id, record, samples_ns, power_samples, ops=ops))
            s.commit()

    def results(self, dep_id: str) -> list[Result]:
        """The deployment's results, their records upgraded to the current version."""
        with Session(self.engine) as s:
            rows = list(s.scalars(select(Result).where(Result.deployment_id == dep_id).order_by(Result.id)))
        return read_results(rows)

    def deployments(self, limit: int = 20) -> list[Deployment]:
        with Session(self.engine) as s:
            q = select(Deployment).order_by(Deployment.created_at.desc()).limit(limit)
            return list(s.scalars(q))

    def standalone_deployments(self, limit: int = 30) -> list[Deployment]:
        """Deployments that are no cell's (a `testbed deploy` from before deploys were runs), newest first."""
        in_cells = select(PlanCell.deployment_id).where(PlanCell.deployment_id.is_not(None))
        with Session(self.engine) as s:
            q = (select(Deployment).where(Deployment.id.not_in(in_cells))
                 .order_by(Deployment.created_at.desc()).limit(limit))
            return list(s.scalars(q))

    def deployment(self, dep_id: str) -> Deployment | None:
        with Session(self.engine) as s:
            return s.get(Deployment, dep_id)
