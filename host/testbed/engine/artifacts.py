"""A run's conversions: in worker processes, in parallel, each artifact handed on the moment it exists.

The engine measures a cell as soon as its artifact is ready, while the other conversions go on; on a
remote board a deploy then takes about max(conversion, measurement) instead of their sum.

* **Processes, not threads**: the converters (torch.export, ExecuTorch, TFLite, ONNX) hold the GIL
  for seconds and keep process-wide state; started with ``spawn``, so no worker inherits this
  process's threads (board workers, lease renewals) or its open connections.
* **The cache is shared safely**: every worker builds through ``converters.cache.build``, which
  writes an entry into a private temporary folder and renames it into place; two processes making
  the same key both succeed (the second keeps the first's equivalent entry), different keys never
  touch each other. Cache hits are looked up here (``cache.lookup``) and never reach a worker.
* **Ctrl-C belongs to the controller**: workers ignore SIGINT (a terminal sends it to the whole
  process group); on an interrupt the engine cancels what has not started and terminates the rest.

``TESTBED_CONVERT_JOBS`` sets the number of worker processes (default: the CPUs, at most 4: each
worker imports torch and TensorFlow, ~2 GB).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

Pair = tuple[str, str]  # (model id, converter name)
Progress = Callable[[str], None]
MAX_JOBS = 4


def jobs_wanted(misses: int) -> int:
    """Worker processes for ``misses`` conversions: ``$TESTBED_CONVERT_JOBS``, else the CPUs (<= 4)."""
    env = os.environ.get("TESTBED_CONVERT_JOBS", "").strip()
    jobs = int(env) if env.isdigit() and int(env) > 0 else min(os.cpu_count() or 1, MAX_JOBS)
    return max(1, min(jobs, misses))


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _convert(model_id: str, converter: str) -> Any:
    """In a worker process: the artifact (a failed conversion is a failed Artifact, never raised)."""
    import testbed_zoo

    from ..converters.cache import build

    return build(converter, testbed_zoo.load(model_id))


class Conversions:
    """Converts ``pairs`` of ``models``; ``ready()`` yields ``(pair, artifact)`` as each finishes."""

    def __init__(self, models: dict[str, Any], pairs: list[Pair], progress: Progress = lambda msg: None) -> None:
        self.models, self.pairs, self.progress = models, list(dict.fromkeys(pairs)), progress
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, Pair] = {}
        self.started = time.monotonic()
        self.seconds: float | None = None  # wall time until the last artifact was ready

    def ready(self, stop: threading.Event) -> Iterator[tuple[Pair, Any]]:
        """Cache hits first (at once), then every conversion in completion order."""
        from ..converters.cache import lookup

        misses = []
        for pair in self.pairs:
            hit = lookup(pair[1], self.models[pair[0]])
            if hit is None:
                misses.append(pair)
            else:
                yield pair, hit
        if misses:
            jobs = jobs_wanted(len(misses))
            cached = len(self.pairs) - len(misses)
            self.progress(f"converting {len(misses)} variant(s) in {jobs} process(es)"
                          + (f" ({cached} more from the cache)" if cached else ""))
            self._pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_ignore_sigint)
            self._futures = {self._pool.submit(_convert, *pair): pair for pair in misses}
            waiting = set(self._futures)
            finished = 0
            while waiting and not stop.is_set():
                done, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:  # two may finish within one wait: each counted on its own
                    pair = self._futures[fut]
                    finished += 1
                    yield pair, self._result(fut, pair)
                    self.progress(f"converted {finished}/{len(misses)}: {pair[0]} with {pair[1]}")
        self.seconds = time.monotonic() - self.started
        self.close()

    def _result(self, fut: Future, pair: Pair) -> Any:
        """The worker's artifact; a worker that died (killed, out of memory) is a failed artifact."""
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - BrokenProcessPool and the like: a finding for this cell
            from ..converters import get
            from ..converters.cache import Artifact

            conv = get(pair[1])
            return Artifact(model=pair[0], converter=conv.name, source=conv.source, format=conv.format,
                            quantization=conv.quantization, runtime=conv.runtime, layout=conv.layout,
                            status="failed", error=f"conversion process failed: {type(exc).__name__}: {exc}",
                            path=None, sha256=None, size_bytes=None, conversion_s=None, tool_versions={},
                            cached=False, extra={})

    def close(self, abort: bool = False) -> None:
        """Shut the workers down; ``abort``: drop queued conversions and terminate running ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if abort:
            procs = list(getattr(pool, "_processes", {}).values())  # no public handle on the workers
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(5)
        else:
            pool.shutdown(wait=True)
