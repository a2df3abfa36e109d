"""Content-addressed artifact cache: convert once per (model source, converter, options, tools,
converter code).

Layout under ``cache_dir("artifacts")``::

    <key>/meta.json                      the Artifact (path stored as a file name)
    <key>/<model>.<converter><ext>       the artifact itself

An entry is written into a temporary sibling folder and renamed into place, so a crash
mid-conversion never leaves a half entry. Failed conversions are never cached, and neither is an
artifact its runtime cannot load (``Converter.check_loads`` runs before an entry is published).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.errors import ConversionError, first_line
from testbed.paths import cache_dir

from .base import Converter, ZooModelLike
from .registry import all_converters, get

# 1: first format. 2: every entry was load-checked by its runtime before it was published (a
#    version-1 TFLite entry may hold a file LiteRT cannot load: never served, converted again).
CACHE_FORMAT_VERSION = 2
META_FILE = "meta.json"
_TMP_PREFIX = ".tmp-"


@dataclasses.dataclass
class Artifact:
    """The outcome of converting one model with one converter (ok or failed)."""

    model: str
    converter: str
    source: str
    format: str
    quantization: str
    runtime: str
    layout: str
    status: str  # "ok" | "failed"
    error: str | None  # one line, the converter's own first useful line
    path: Path | None  # the artifact file in the cache
    sha256: str | None  # of the artifact bytes
    size_bytes: int | None
    conversion_s: float | None  # wall time of convert() when it ran (kept when cached); includes
    # building the framework model and, first in a process, importing the tool
    tool_versions: dict[str, str]
    cached: bool  # True when this call converted nothing
    extra: dict[str, Any]  # e.g. delegated_nodes / total_nodes

    @property
    def ok(self) -> bool:
        """True when the artifact was produced."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``path`` as a string)."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path) if self.path is not None else None
        return data


def cache_key(converter: Converter, model: ZooModelLike) -> str:
    """sha256 hex identifying the artifact ``converter`` would make from ``model``."""
    payload = {
        "cache_format": CACHE_FORMAT_VERSION,
        "model": model.id,
        "source_hash": model.source_hash(),
        "converter": converter.name,
        "options": converter.options(),
        "tool_versions": converter.tool_versions(),
        "code": converter.implementation_hash(),  # the converter's own source and the shared modules
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def build(converter: Converter | str, model: ZooModelLike) -> Artifact:
    """The artifact of ``model`` by ``converter``: from the cache, or converted now.

    Never raises for a conversion problem: an unavailable converter, a tool error or a model
    that fails to build yields ``status="failed"`` with a one-line ``error``.
    """
    conv = get(converter) if isinstance(converter, str) else converter
    model_id = str(getattr(model, "id", model))
    try:
        versions = conv.tool_versions()
    except Exception as exc:  # metadata lookups should not fail, but never crash a run over them
        versions = {"error": first_line(exc)}
    try:
        layout = conv.layout_for(model)
    except Exception:  # a model without the converter's framework: the conversion reports it
        layout = conv.layout
    artifact = Artifact(
        model=model_id,
        converter=conv.name,
        source=conv.source,
        format=conv.format,
        quantization=conv.quantization,
        runtime=conv.runtime,
        layout=layout,
        status="failed",
        error=None,
        path=None,
        sha256=None,
        size_bytes=None,
        conversion_s=None,
        tool_versions=versions,
        cached=False,
        extra={},
    )
    ok, reason = conv.available()
    if not ok:
        artifact.error = f"not available: {reason}"
        return artifact
    try:
        key = cache_key(conv, model)
    except Exception as exc:  # the model's source_hash() or a converter's options() failed
        artifact.error = first_line(exc)
        return artifact

    root = cache_dir("artifacts")
    entry = root / key
    hit = _load_entry(entry)
    if hit is not None:
        return hit
    return _convert_into(conv, model, artifact, root, entry, key)


def lookup(converter: Converter | str, model: ZooModelLike) -> Artifact | None:
    """The cached artifact of ``model`` by ``converter`` (intact, sha256 verified), or None: converts
    nothing, so a caller can keep cache hits out of its conversion workers."""
    conv = get(converter) if isinstance(converter, str) else converter
    try:
        if not conv.available()[0]:
            return None
        return _load_entry(cache_dir("artifacts") / cache_key(conv, model))
    except Exception:  # noqa: BLE001 - a key that cannot be computed: build() reports why
        return None


def build_all(model: ZooModelLike, converters: Sequence[Converter | str] | None = None) -> list[Artifact]:
    """``build`` ``model`` with each converter (default: every registered one), in order."""
    chosen = all_converters() if converters is None else list(converters)
    return [build(conv, model) for conv in chosen]


def _convert_into(
    conv: Converter, model: ZooModelLike, artifact: Artifact, root: Path, entry: Path, key: str
) -> Artifact:
    """Run the conversion in a temporary folder and rename it to ``entry`` when it succeeded."""
    tmp = root / f"{_TMP_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    filename = f"{artifact.model}.{conv.name}{conv.extension}"
    try:
        start = time.perf_counter()
        try:
            extra = conv.convert(model, tmp / filename)
        except Exception as exc:  # the boundary: any tool or model error becomes a failed row
            artifact.error = first_line(exc)  # ConversionError: "<converter>: <tool line>"
            return artifact
        artifact.conversion_s = round(time.perf_counter() - start, 4)
        out = tmp / filename
        if not out.is_file() or out.stat().st_size == 0:
            artifact.error = f"{conv.name}: produced no artifact file"
            return artifact
        try:
            conv.check_loads(out)
        except ConversionError as exc:  # "<converter>: LiteRT cannot load the artifact: <its line>"
            artifact.error = str(exc)
            return artifact
        artifact.status = "ok"
        artifact.extra = dict(extra or {})
        artifact.sha256 = _sha256(out)
        artifact.size_bytes = out.stat().st_size
        meta = artifact.to_dict()
        meta.update(path=filename, cached=None, key=key, cache_format=CACHE_FORMAT_VERSION)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        _publish(tmp, entry)
        artifact.path = entry / filename
        published = _load_entry(entry)
        if published is not None and published.sha256 != artifact.sha256:
            # A concurrent build of the same key published first, and this converter's bytes differ
            # run to run (tf2onnx, torch.export): the entry's bytes are the artifact, never ours -
            # a sha256 that is not the file's would be refused on upload.
            return published
        return artifact
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, entry: Path) -> None:
    """Atomically move the finished ``tmp`` folder to ``entry`` (replacing a broken entry)."""
    try:
        os.rename(tmp, entry)
        return
    except OSError:
        if not entry.exists():
            raise
    if _load_entry(entry) is not None:
        return  # a concurrent build published the same key first: it stays (the caller serves it)
    shutil.rmtree(entry, ignore_errors=True)
    os.rename(tmp, entry)


def _load_entry(entry: Path) -> Artifact | None:
    """The cached artifact in ``entry`` if complete and intact (sha256 verified), else None."""
    meta_path = entry / META_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("cache_format") != CACHE_FORMAT_VERSION or meta.get("status") != "ok":
            return None
        path = entry / meta["path"]
        if not path.is_file() or _sha256(path) != meta["sha256"]:
            return None
        fields = {f.name for f in dataclasses.fields(Artifact)}
        data = {k: v for k, v in meta.items() if k in fields}
        data.update(path=path, cached=True)
        return Artifact(**data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def exported(artifact: Artifact) -> tuple[str, dict[str, Any], bytes] | None:
    """(cache key, meta.json, bytes) of an ok cached artifact, to share with other hosts; None when the
    artifact is not an intact cache entry."""
    if artifact.status != "ok" or artifact.path is None:
        return None
    entry = artifact.path.parent
    if _load_entry(entry) is None:
        return None
    meta = json.loads((entry / META_FILE).read_text())
    return str(meta["key"]), meta, artifact.path.read_bytes()


def install(key: str, meta: dict[str, Any], data: bytes) -> Artifact | None:
    """Put an artifact another host converted into this host's cache under ``key`` (its bytes checked
    against the meta's sha256 first); the cached Artifact, or None when the bytes do not match."""
    if hashlib.sha256(data).hexdigest() != meta.get("sha256") or meta.get("cache_format") != CACHE_FORMAT_VERSION:
        return None
    root = cache_dir("artifacts")
    entry = root / key
    hit = _load_entry(entry)
    if hit is not None:
        return hit
    tmp = root / f"{_TMP_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        meta = {**meta, "path": Path(str(meta["path"])).name}  # a file name, never a path out of the entry
        (tmp / meta["path"]).write_bytes(data)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        _publish(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _load_entry(entry)
