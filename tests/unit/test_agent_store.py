"""The content-addressed artifact store."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from testbed_agent.errors import NotFoundError, RequestError
from testbed_agent.store import ArtifactStore, check_sha256


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_and_check(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = os.urandom(3 << 20)  # spans several chunks
    assert store.put(sha(data), io.BytesIO(data)) == len(data)
    assert store.check(sha(data)) == len(data)
    assert (tmp_path / "artifacts" / sha(data)).read_bytes() == data
    assert list((tmp_path / "tmp").iterdir()) == []


def test_put_wrong_sha_keeps_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(RequestError, match="nothing was stored"):
        store.put(sha(b"other"), io.BytesIO(b"data"))
    assert list((tmp_path / "artifacts").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="send it first"):
        ArtifactStore(tmp_path).check(sha(b"x"))


def test_dropped_file_verified_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ArtifactStore(tmp_path)
    data = b"dropped by sftp"
    (tmp_path / "artifacts" / sha(data)).write_bytes(data)
    assert store.check(sha(data)) == len(data)
    calls: list[Path] = []
    monkeypatch.setattr("testbed_agent.store.hash_file", lambda p: calls.append(p) or "0" * 64)
    assert store.check(sha(data)) == len(data)  # cached: not hashed again
    assert calls == []


def test_corrupt_file_is_removed(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    name = sha(b"good")
    path = tmp_path / "artifacts" / name
    path.write_bytes(b"good")
    store.check(name)
    path.write_bytes(b"bad!!")  # replaced behind the agent's back: new size/mtime
    with pytest.raises(NotFoundError, match=r"was corrupt \(sha256 mismatch\) and was removed; send it again"):
        store.check(name)
    assert not path.exists()


def test_sha_format() -> None:
    assert check_sha256("A" * 64) == "a" * 64
    for bad in ("abc", "g" * 64, None, 5, "../" + "a" * 61):
        with pytest.raises(RequestError):
            check_sha256(bad)


def test_stale_uploads_cleaned(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "upload-dead").write_bytes(b"x")
    ArtifactStore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []
