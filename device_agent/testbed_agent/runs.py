"""A run's record and its persistence as ``<store>/runs/<id>.json`` once it has finished."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{12}-[0-9a-f]{8}$")
FINISHED = ("done", "failed")
OUTPUT_KEYS = ("outputs_npy_b64", "timing_output_npy_b64")


def utc_now() -> str:
    """Now as ISO 8601 UTC with microseconds, e.g. ``2025-01-31T12:00:00.123456Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    """A run id that sorts by creation time: ``20250131T120000123456-1a2b3c4d``."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}"
    return f"{stamp}-{secrets.token_hex(4)}"


@dataclass
class Run:
    """One measurement request and what became of it."""

    id: str
    request: dict[str, Any]
    state: str = "queued"
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    finished_at: str | None = None
    stderr_tail: str | None = None

    def to_json(self, outputs: bool = True) -> dict[str, Any]:
        """The API form; ``outputs=False`` drops the base64 output arrays from the result."""
        result = self.result
        if result is not None and not outputs:
            result = {k: v for k, v in result.items() if k not in OUTPUT_KEYS}
        return {"id": self.id, "state": self.state, "request": self.request, "result": result,
                "error": self.error, "created_at": self.created_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "stderr_tail": self.stderr_tail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """Inverse of ``to_json``."""
        fields: dict[str, Any] = {k: data.get(k) for k in ("id", "request", "state", "result", "error",
                                                           "created_at", "started_at", "finished_at",
                                                           "stderr_tail")}
        return cls(**fields)


class RunFiles:
    """Finished runs on disk, one JSON file each."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "runs"
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, run: Run) -> None:
        """Write ``run`` atomically (temp file, then rename)."""
        tmp = self.dir / f".{run.id}.json.tmp"
        tmp.write_text(json.dumps(run.to_json()), encoding="utf-8")
        os.replace(tmp, self.dir / f"{run.id}.json")

    def load(self, run_id: str) -> Run | None:
        """The saved run ``run_id`` or None (also for ids that are not run ids)."""
        if not RUN_ID_RE.match(run_id):
            return None
        try:
            return Run.from_json(json.loads((self.dir / f"{run_id}.json").read_text("utf-8")))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def recent_ids(self, limit: int) -> list[str]:
        """Ids of the ``limit`` most recent saved runs, newest first."""
        ids = [p.stem for p in self.dir.glob("*.json") if RUN_ID_RE.match(p.stem)]
        return sorted(ids, reverse=True)[:limit]
