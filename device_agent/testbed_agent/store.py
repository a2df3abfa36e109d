"""Content-addressed artifact store: ``<store>/artifacts/<sha256>``.

Artifacts arrive by HTTP PUT (hashed while streaming, renamed into place only when the hash
matches) or are dropped into ``artifacts/`` directly (SFTP), so a file is trusted only after its
content has been hashed; the verdict is cached per (size, mtime_ns, inode).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from pathlib import Path
from typing import IO

from .errors import NotFoundError, RequestError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def check_sha256(value: object, what: str = "sha256") -> str:
    """``value`` as a lowercase 64-hex-digit sha256; RequestError otherwise."""
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        raise RequestError(f"{what} must be 64 hexadecimal digits (a sha256), got {value!r:.80}")
    return value.lower()


def hash_file(path: Path) -> str:
    """sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class ArtifactStore:
    """The artifacts of one agent, verified by content hash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "artifacts"
        self.tmp = root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.glob("upload-*"):  # left by an agent killed mid-upload
            stale.unlink(missing_ok=True)
        self._verified: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        """Where artifact ``sha256`` lives (whether or not it exists)."""
        return self.dir / check_sha256(sha256)

    def put(self, sha256: str, stream: IO[bytes]) -> int:
        """Store the bytes of ``stream`` as ``sha256``; return their size.

        RequestError (nothing kept) when the bytes do not hash to ``sha256``.
        """
        sha256 = check_sha256(sha256)
        tmp = self.tmp / f"upload-{uuid.uuid4().hex}"
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as fh:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            actual = digest.hexdigest()
            if actual != sha256:
                raise RequestError(f"the uploaded body ({size} bytes) hashes to {actual}, not to "
                                   f"{sha256} named in the URL; nothing was stored (truncated upload?)")
            final = self.dir / sha256
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            self._verified[sha256] = _stamp(final.stat())
        return size

    def check(self, sha256: str) -> int:
        """Size of artifact ``sha256`` after making sure its content matches its name.

        NotFoundError when it is missing, or when it was corrupt (it is then deleted).
        """
        sha256 = check_sha256(sha256)
        path = self.dir / sha256
        try:
            st = path.stat()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {sha256} is not in the agent's store; send it first") from None
        with self._lock:
            if self._verified.get(sha256) == _stamp(st):
                return st.st_size
        if hash_file(path) == sha256:
            with self._lock:
                self._verified[sha256] = _stamp(st)
            return st.st_size
        self._remove_if_unchanged(path, st)
        with self._lock:
            self._verified.pop(sha256, None)
        raise NotFoundError(f"artifact {sha256} was corrupt (sha256 mismatch) and was removed; "
                            "send it again")

    @staticmethod
    def _remove_if_unchanged(path: Path, st: os.stat_result) -> None:
        """Delete the corrupt file unless a correct upload replaced it meanwhile."""
        try:
            if _stamp(path.stat()) == _stamp(st):
                path.unlink()
        except FileNotFoundError:
            pass
