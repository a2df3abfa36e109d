"""Artifacts shared by a lab's hosts through the store (``engine/lab_artifacts.py``, ``converters.cache``):
an artifact one host converted, stored with its cache key and sha256, installed into another host's
cache byte for byte; bytes that do not match their sha256 never enter a cache. The whole path with real
conversions, workers and PostgreSQL: tests/integration/test_celery_lab_hosts.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from testbed.converters import cache
from testbed.engine.lab_artifacts import from_meta, share
from testbed.store import Store


def _entry(data: bytes) -> dict:
    return {"model": "m", "converter": "onnx-torch-fp32", "source": "pytorch", "format": "onnx",
            "quantization": "fp32", "runtime": "onnxruntime", "layout": "nchw", "status": "ok", "error": None,
            "path": "m.onnx-torch-fp32.onnx", "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
            "conversion_s": 1.5, "tool_versions": {"torch": "2.13.0"}, "cached": None, "extra": {},
            "key": "k" * 64, "cache_format": cache.CACHE_FORMAT_VERSION}


def test_an_artifact_goes_from_one_hosts_cache_through_the_store_into_anothers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path / 'lab.db'}")
    data = b"\x08\x07onnx-bytes" * 100
    meta = _entry(data)
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path / "host-a"))
    made = cache.install(meta["key"], meta, data)  # as if host A had converted it
    assert made is not None and made.path is not None and made.path.read_bytes() == data
    assert share(store, made) is True and share(store, made) is False  # stored once
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path / "host-b"))
    found = store.get_artifact(meta["key"])
    assert found is not None and found[0] == meta["sha256"]
    got = cache.install(meta["key"], found[1], found[2])
    assert got is not None and got.path is not None and str(tmp_path / "host-b") in str(got.path)
    assert (got.sha256, got.path.read_bytes(), got.cached) == (meta["sha256"], data, True)
    assert from_meta({**found[1], "cached": True}).path is None


def test_bytes_that_do_not_match_their_sha256_never_enter_a_cache(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path))
    meta = _entry(b"the real bytes")
    assert cache.install(meta["key"], meta, b"other bytes") is None
    assert not list(tmp_path.rglob("meta.json"))
    escape = {**meta, "path": "../../outside.onnx"}  # a file name only: never a path out of the entry
    placed = cache.install(meta["key"], escape, b"the real bytes")
    assert placed is not None and placed.path is not None and placed.path.parent.name == meta["key"]
    assert not (tmp_path / "outside.onnx").exists()
