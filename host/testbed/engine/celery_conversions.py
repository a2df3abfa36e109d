"""A run's conversions in a lab: once for the whole lab, on the conversion queue (``testbed.convert``,
served by `testbed worker --convert N` on any host), the artifacts shared through the store.

The controller sends one conversion task per artifact the store lacks and hands each artifact to the
engine when its task answers; the boards' workers then fetch it from the store by its cache key
(``lab_artifacts.obtain``). With no conversion worker in the lab, the controller converts itself
(``lab_artifacts.SharedConversions``) and stores what it made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from ..converters.cache import cache_key
from ..converters.registry import get
from ..errors import first_line
from ..store import Store
from .artifacts import Pair, Progress
from .celery_app import CONVERT_QUEUE, CONVERT_TASK
from .lab_artifacts import from_meta

POLL_S = 0.5


class LabConversions:
    """The engine's ``Conversions`` contract (``ready(stop)``, ``close(abort)``, ``seconds``) over Celery."""

    def __init__(self, app: Any, store: Store, models: dict[str, Any], pairs: list[Pair],
                 progress: Progress) -> None:
        self.app, self.store, self.models, self.progress = app, store, models, progress
        self.pairs = list(dict.fromkeys(pairs))
        self.started = time.monotonic()
        self.seconds: float | None = None
        self._sent: dict[Pair, Any] = {}  # pair -> AsyncResult

    def _stored(self, pair: Pair) -> Any | None:
        try:
            key = cache_key(get(pair[1]), self.models[pair[0]])
        except Exception:  # noqa: BLE001 - no key: the conversion task reports why
            return None
        found = self.store.get_artifact(key)
        return None if found is None else from_meta({**found[1], "cached": True})

    def ready(self, stop: threading.Event) -> Iterator[tuple[Pair, Any]]:
        """Artifacts the store holds first (at once), then each conversion as its task answers."""
        for pair in self.pairs:
            hit = self._stored(pair)
            if hit is not None:
                yield pair, hit
            else:
                self._sent[pair] = self.app.send_task(CONVERT_TASK, args=[pair[0], pair[1]], queue=CONVERT_QUEUE)
        total = len(self._sent)
        if total:
            self.progress(f"converting {total} variant(s) on the lab's conversion queue ({CONVERT_QUEUE})")
        while self._sent and not stop.is_set():
            for pair, result in list(self._sent.items()):
                if not result.ready():
                    continue
                del self._sent[pair]
                yield pair, self._artifact(pair, result)
                self.progress(f"converted {pair[0]} with {pair[1]} ({total - len(self._sent)}/{total})")
            time.sleep(POLL_S)
        self.seconds = time.monotonic() - self.started

    def _artifact(self, pair: Pair, result: Any) -> Any:
        """The task's artifact; a task that failed (a worker's bug, its time limit) is a failed artifact."""
        if result.successful():
            return from_meta(result.result)
        conv = get(pair[1])
        return from_meta({"model": pair[0], "converter": conv.name, "source": conv.source, "format": conv.format,
                          "quantization": conv.quantization, "runtime": conv.runtime, "layout": conv.layout,
                          "status": "failed", "error": f"conversion task failed: {first_line(result.result)}",
                          "sha256": None, "size_bytes": None, "conversion_s": None})

    def close(self, abort: bool = False) -> None:
        if abort and self._sent:
            ids = [r.id for r in self._sent.values()]
            self._sent.clear()
            try:
                self.app.control.revoke(ids, terminate=True, signal="SIGTERM")
            except Exception:  # noqa: BLE001 - the broker gone too: nothing more to stop
                pass
