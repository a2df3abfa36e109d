"""Tables. A *deployment* is one `testbed deploy`; a *result* is one artifact measured (or failed) in it.

Raw latency samples are kept (``samples_ns``); every statistic in ``record`` is derived from them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
    samples_ns: Mapped[list] = mapped_column(JSON, default=list)  # raw per-inference latencies
    power_samples: Mapped[list] = mapped_column(JSON, default=list)  # raw [t_ns, watts] power readings
    record: Mapped[dict] = mapped_column(JSON)  # the full versioned result record (records.py)
