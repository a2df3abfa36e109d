"""Open the store and write to it; every result is committed the moment it exists."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

from sqlalchemy import create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..paths import home
from .schema import Base, Deployment, Result


def default_url() -> str:
    return os.environ.get("TESTBED_DB") or f"sqlite:///{home() / 'results.db'}"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Store:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        try:
            self.engine = create_engine(self.url)
            Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, ImportError) as exc:
            raise ConfigError(f"cannot open results store {self.url}: {exc}".splitlines()[0]) from exc

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
                   power_samples: list | None = None) -> None:
        lat = record.get("latency_ms") or {}
        with Session(self.engine) as s:
            s.add(Result(
                deployment_id=dep_id, created_at=_now(), model=record["model"], converter=record["converter"],
                format=record["format"], source=record["source"], quantization=record["quantization"],
                runtime=record["runtime"], status=record["status"], error=record.get("error"),
                artifact_sha256=record.get("sha256"), size_bytes=record.get("size_bytes"),
                latency_p50_ms=lat.get("p50"), cached=bool(record.get("cached")),
                samples_ns=list(samples_ns), power_samples=list(power_samples or []), record=record))
            s.commit()

    def results(self, dep_id: str) -> list[Result]:
        with Session(self.engine) as s:
            return list(s.scalars(select(Result).where(Result.deployment_id == dep_id).order_by(Result.id)))

    def deployments(self, limit: int = 20) -> list[Deployment]:
        with Session(self.engine) as s:
            q = select(Deployment).order_by(Deployment.created_at.desc()).limit(limit)
            return list(s.scalars(q))
