"""The store's shared artifacts (a lab of several hosts): one row per cache key, the bytes inside.

A mixin of ``Store`` (``store.db``). PostgreSQL keeps a ``bytea`` up to 1 GB; edge artifacts are KB to
tens of MB. Two hosts storing the same key at once: the second insert loses the race and is dropped
(the bytes are the same conversion's, checked by sha256 when fetched).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .rows import _now
from .schema import ArtifactBlob


class ArtifactBlobStore:
    engine: Engine

    def has_artifact(self, key: str) -> bool:
        with Session(self.engine) as s:
            return s.scalar(select(ArtifactBlob.key).where(ArtifactBlob.key == key)) is not None

    def put_artifact(self, key: str, sha256: str, meta: dict[str, Any], data: bytes) -> bool:
        """Store the artifact under ``key``; False when it was there already."""
        if self.has_artifact(key):
            return False
        with Session(self.engine) as s:
            s.add(ArtifactBlob(key=key, sha256=sha256, model=str(meta.get("model", "")),
                               converter=str(meta.get("converter", "")), size_bytes=len(data), meta=meta,
                               data=data, stored_at=_now(), stored_by=f"{socket.gethostname()}:{os.getpid()}"))
            try:
                s.commit()
            except IntegrityError:  # another host stored the same key a moment earlier
                s.rollback()
                return False
        return True

    def get_artifact(self, key: str) -> tuple[str, dict[str, Any], bytes] | None:
        """(sha256, meta, bytes) of the artifact stored under ``key``, or None."""
        with Session(self.engine) as s:
            row = s.get(ArtifactBlob, key)
            return None if row is None else (row.sha256, dict(row.meta), bytes(row.data))
