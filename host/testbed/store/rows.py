"""Rows from records: what every part of the store writes and reads the same way (results, timestamps).

Reading: every stored record goes through ``records.upgrade`` (``read_results``), so a reader always
sees the current record version, whatever version wrote it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy.engine import CursorResult

from .. import records
from .schema import Result

FINISHED = ("done", "failed")  # cell states --resume never redoes

#: A record may carry its full per-op profile table under this key; the store moves it into the
#: ``results.ops`` column (the record keeps the small ``ops`` summary).
OPS_TABLE_KEY = "ops_table"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE matched (``Session.execute`` is typed as returning a plain ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


def _ops_table(record: dict, ops: dict | None) -> dict | None:
    """The per-op table for the ``ops`` column: ``ops`` if given, else the record's transient one
    (always taken out of the record, which keeps only its summary)."""
    carried = record.pop(OPS_TABLE_KEY, None)
    return ops if ops is not None else carried


def result_row(dep_id: str, record: dict, samples_ns: list[int], power_samples: list | None,
               cell_id: int | None = None, ops: dict | None = None) -> Result:
    """The ``results`` row of one record: its raw samples, and its per-op table moved out of it."""
    lat = record.get("latency_ms") or {}
    return Result(
        deployment_id=dep_id, created_at=_now(), model=record["model"], converter=record["converter"],
        format=record["format"], source=record["source"], quantization=record["quantization"],
        runtime=record["runtime"], status=record["status"], error=record.get("error"),
        artifact_sha256=record.get("sha256"), size_bytes=record.get("size_bytes"),
        latency_p50_ms=lat.get("p50"), cached=bool(record.get("cached")),
        samples_ns=list(samples_ns), power_samples=list(power_samples or []), record=record,
        cell_id=cell_id, ops=_ops_table(record, ops))


def read_results(rows: list[Result]) -> list[Result]:
    """``rows`` with their records upgraded to the current version (detached rows: nothing is written
    back; a record newer than this host is a ``records.RecordVersionError``)."""
    for row in rows:
        if row.record:
            row.record = records.upgrade(row.record)
    return rows
