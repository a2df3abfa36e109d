"""Artifacts shared by a lab's hosts through the results store (PostgreSQL for a lab): each artifact is
converted once for the whole lab, and a host that lacks it fetches it by its cache key, its bytes
checked against their sha256, into its own cache (``converters.cache.install``).

    share(store, artifact)         an ok cached artifact into the store (once per key)
    obtain(store, converter, model) this host's cache, else the store, else converted here (and shared)
    from_meta(meta)                an Artifact from a conversion task's answer (no local file)
    SharedConversions              the engine's conversions on the controller, each ok artifact shared

Why the store: a lab already runs it (results, Celery's result backend), every worker already reaches
it, and a row is written in one transaction; no second service (NFS, S3) to run and secure.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..converters.cache import Artifact, build, cache_key, exported, install, lookup
from ..converters.registry import get
from ..store import Store
from .artifacts import Conversions, Pair

Say = Callable[[str], None]


def share(store: Store, artifact: Artifact) -> bool:
    """Store an ok cached artifact for the other hosts; True when this call stored it."""
    found = exported(artifact)
    if found is None:
        return False
    key, meta, data = found
    return store.put_artifact(key, str(meta["sha256"]), meta, data)


def fetch(store: Store, converter: str, model: Any) -> Artifact | None:
    """The artifact another host stored, installed into this host's cache; None when the store lacks it
    (or its bytes do not match their sha256: then it is converted again)."""
    try:
        key = cache_key(get(converter), model)
    except Exception:  # noqa: BLE001 - a key that cannot be computed: build() reports why
        return None
    found = store.get_artifact(key)
    if found is None:
        return None
    _, meta, data = found
    return install(key, meta, data)


def obtain(store: Store, converter: str, model: Any, say: Say = lambda m: None) -> Artifact:
    """This host's cached artifact, else the lab's (fetched by key, checked by sha256), else converted
    here and shared with the lab."""
    art = lookup(converter, model)
    if art is not None:
        return art
    art = fetch(store, converter, model)
    if art is not None:
        say(f"{model.id} with {converter}: fetched from the store (sha256 {art.sha256})")
        return art
    art = build(converter, model)
    if art.status == "ok":
        share(store, art)
        say(f"{model.id} with {converter}: converted here and stored (sha256 {art.sha256})")
    return art


def from_meta(meta: dict[str, Any]) -> Artifact:
    """An Artifact from its fields (a conversion task's answer, or a store row's meta): no local file."""
    fields = {f.name for f in dataclasses.fields(Artifact)}
    data = {k: v for k, v in meta.items() if k in fields}
    data.update(path=None, cached=bool(meta.get("cached")))
    data.setdefault("extra", {})
    data.setdefault("tool_versions", {})
    return Artifact(**data)


class SharedConversions(Conversions):
    """The controller converts (no conversion worker in the lab): each ok artifact is also stored, so the
    boards' workers fetch it instead of converting it again."""

    def __init__(self, store: Store, models: dict[str, Any], pairs: list[Pair], progress: Say) -> None:
        super().__init__(models, pairs, progress)
        self.store = store

    def ready(self, stop: threading.Event) -> Iterator[tuple[Pair, Any]]:
        for pair, art in super().ready(stop):
            if art.status == "ok" and share(self.store, art):
                self.progress(f"stored {pair[0]} with {pair[1]} for the lab's workers (sha256 {art.sha256})")
            yield pair, art
