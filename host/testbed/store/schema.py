"""Tables. A *deployment* is one `testbed deploy` (or one board x model inside a plan run); a *result* is
one artifact measured (or failed) in it. A *plan run* is one `testbed run --plan`: its *boards* (health,
lease) and its *cells* (device x model x variant x threads; each cell's repeats are results).

Raw latency samples are kept (``samples_ns``); every statistic in ``record`` is derived from them.
Long sample lists are stored losslessly compressed inside their JSON column (``samples.py``).

Changing a table: edit it here AND add a migration (``host/testbed/store/migrations/versions/``, see
``migrations/README``); ``tests/unit/test_store_migrations.py`` fails when the two disagree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .samples import LatencySamples, PowerSamples


class Base(DeclarativeBase):
    pass


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    device: Mapped[str] = mapped_column(String(128), index=True)
    model: Mapped[str] = mapped_column(String(256), index=True)
    host_version: Mapped[str] = mapped_column(String(32))
    agent_info: Mapped[dict] = mapped_column(JSON, default=dict)  # /v1/info of the board at run time
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Result(Base):
    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    model: Mapped[str] = mapped_column(String(256))
    converter: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    quantization: Mapped[str] = mapped_column(String(32))
    runtime: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_p50_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    samples_ns: Mapped[list] = mapped_column(LatencySamples, default=list)  # raw per-inference latencies
    power_samples: Mapped[list] = mapped_column(PowerSamples, default=list)  # raw [t_ns, watts] power readings
    record: Mapped[dict] = mapped_column(JSON)  # the full versioned result record (records.py)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("plan_cells.id"), nullable=True, index=True)  # plan runs
    ops: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # per-op profile table (opsreport.normalize)


class PlanRun(Base):
    """One run of the engine: a `testbed run --plan`, or a `testbed deploy` (a plan of one board and one
    model, ``kind`` deploy); the plan as it was, and how the run went."""

    __tablename__ = "plan_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # sortable: 20250131-020000-1a2b
    kind: Mapped[str] = mapped_column(String(16), default="plan", server_default="plan")  # plan | deploy
    plan_name: Mapped[str] = mapped_column(String(128), index=True)
    plan: Mapped[dict] = mapped_column(JSON)  # the validated plan (a resume needs no file)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | interrupted | failed
    host: Mapped[str] = mapped_column(String(256))  # hostname of the controller
    host_version: Mapped[str] = mapped_column(String(32))
    baseline_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # run compared against
    regressions: Mapped[int | None] = mapped_column(Integer, nullable=True)  # cells regressed vs baseline
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the controller executing the run now ("host:pid"), and when it last said so: one at a time
    owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PlanBoard(Base):
    """A board's state in a plan run: its health check and lease, and why it was skipped if it was."""

    __tablename__ = "plan_boards"
    __table_args__ = (UniqueConstraint("run_id", "device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("plan_runs.id"), index=True)
    device: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # pending | ok | bad | busy | lost
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_info: Mapped[dict] = mapped_column(JSON, default=dict)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PlanCell(Base):
    """One cell of a plan run. Finished cells (done/failed) are never redone by ``--resume``."""

    __tablename__ = "plan_cells"
    __table_args__ = (UniqueConstraint("run_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("plan_runs.id"), index=True)
    key: Mapped[str] = mapped_column(String(512))  # device/model/converter/threads: same cell across runs
    device: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(256))
    converter: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    quantization: Mapped[str] = mapped_column(String(32))
    runtime: Mapped[str] = mapped_column(String(32))
    threads: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the profile's default
    repeats: Mapped[int] = mapped_column(Integer, default=1)
    # pending | running | done | failed (a finding: conversion/run failed) | error (board fault after
    # retries) | skipped (board bad or busy). Only done and failed are finished.
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deployment_id: Mapped[str | None] = mapped_column(ForeignKey("deployments.id"), nullable=True)
    verdict: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # verdicts.py, vs the run's baseline


class ArtifactBlob(Base):
    """An artifact shared by a lab's hosts (``engine/lab_artifacts.py``): converted once, by one host, and
    fetched by the others by its cache key, its bytes checked against ``sha256``."""

    __tablename__ = "artifact_blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # converters.cache.cache_key
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of ``data``
    model: Mapped[str] = mapped_column(String(256))
    converter: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict] = mapped_column(JSON)  # the cache entry's meta.json
    data: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(DateTime)
    stored_by: Mapped[str] = mapped_column(String(256))  # host:pid
