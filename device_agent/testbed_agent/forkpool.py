"""The fork servers a ``WorkerRunner`` (``supervisor``) starts its workers from: one per runtime,
started, reported and closed here.

A fork server (``forkserver``) is a process that imported the runtime once; starting a worker
from it costs a fork instead of an interpreter start and the runtime's import (seconds;
ExecuTorch's torch import is 15 s on a loaded 2-core machine). A server is started on a
runtime's first run and closed after ``idle_close_s`` without runs. ``prestart(runtimes)``
starts servers ahead of their first run (``POST /v1/workers/prestart``, which the host sends
right after it connects), so their import overlaps with the host's own preparation instead of
following it.

Timing honesty on a small board: importing a runtime (torch: seconds of both cores) while
another runtime is being timed would slow that measurement down. So a fork server never starts
while a worker runs, and a worker never starts while a fork server is starting: a run first waits
for every server still starting, and that wait is its ``server_start_s`` (phase ``server_start``).
Several servers start side by side (their imports share the cores, one measurement is disturbed
by none of them): a deploy then pays max(host preparation, the slowest start) instead of the sum
of every runtime's start after the host's preparation.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from .forkserver import ForkServer, ForkServerError
from .worker_io import worker_env

#: A fork server without runs for this long is closed (its runtime's memory given back).
IDLE_CLOSE_S = 600.0


class ForkServerPool:
    """Each runtime's fork server, and the rule that none starts beside a run: ``prestart()``,
    ``status()``, ``close_idle()``, ``close()``; ``WorkerRunner`` adds the runs."""

    def __init__(self, python: str, cwd: Path | None, fork: bool, idle_close_s: float) -> None:
        self.python = python
        self.cwd = cwd
        self.fork = fork and hasattr(socket, "send_fds")
        self.idle_close_s = idle_close_s
        self._servers: dict[str, ForkServer] = {}
        self._broken: dict[str, str] = {}  # runtime -> why its fork server is not used
        self._lock = threading.Lock()
        self._stopping = False
        self._changed = threading.Condition(self._lock)  # a start or a run began or ended
        self._starting: set[str] = set()  # runtimes whose fork server is being started (prestart)
        self._running = False  # a run is in progress: no fork server starts meanwhile
        self._prestarted: set[str] = set()  # runtimes whose server a prestart started

    def prestart(self, runtimes: list[str]) -> dict[str, dict[str, Any]]:
        """Start the fork servers of ``runtimes`` that are not running yet, each in a thread of its
        own (they import side by side), after the run in progress if there is one; return
        ``status()`` of those runtimes. Without fork servers (``fork=False``) nothing starts."""
        if self.fork:
            for runtime in dict.fromkeys(runtimes):
                with self._lock:
                    if (self._stopping or runtime in self._servers or runtime in self._broken
                            or runtime in self._starting):
                        continue
                    self._starting.add(runtime)
                threading.Thread(target=self._prestart_one, args=(runtime,), daemon=True,
                                 name=f"prestart-{runtime}").start()
        states = self.status()
        return {rt: states.get(rt, {"state": "exec" if not self.fork else "not started"})
                for rt in runtimes}

    def _prestart_one(self, runtime: str) -> None:
        with self._changed:  # never import beside a timed run
            while self._running and not self._stopping:
                self._changed.wait()
        try:
            if self._stopping:
                return
            try:
                server = ForkServer(runtime, self.python, self.cwd, worker_env())
            except ForkServerError as exc:
                with self._lock:
                    self._broken[runtime] = f"fork server for {runtime} unavailable: {exc}"
                return
            with self._lock:
                stopping = self._stopping
                if not stopping:
                    self._servers[runtime] = server
                    self._prestarted.add(runtime)
            if stopping:  # the agent shut down meanwhile
                server.close()
        finally:
            with self._changed:
                self._starting.discard(runtime)
                self._changed.notify_all()

    def status(self) -> dict[str, dict[str, Any]]:
        """Each known runtime's fork server: ``{"state": "ready"|"starting"|"failed", ...}``
        (ready: ``start_s``, ``import_s``, ``prestarted``; failed: ``error``)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {
                rt: {"state": "ready", "start_s": round(srv.start_s, 3), "import_s": round(srv.import_s, 3),
                     "prestarted": rt in self._prestarted}
                for rt, srv in self._servers.items()}
            out.update((rt, {"state": "starting"}) for rt in self._starting)
            out.update((rt, {"state": "failed", "error": why}) for rt, why in self._broken.items())
        return out

    def _begin_run(self) -> float:
        """Wait until no fork server is starting, then mark a run in progress; the seconds waited."""
        started = time.monotonic()
        with self._changed:
            while self._starting and not self._stopping:
                self._changed.wait()
            self._running = True
        return time.monotonic() - started

    def _end_run(self) -> None:
        with self._changed:
            self._running = False
            self._changed.notify_all()

    def _drop(self, server: ForkServer) -> None:
        with self._lock:
            if self._servers.get(server.runtime) is server:
                del self._servers[server.runtime]
                self._prestarted.discard(server.runtime)
        server.close()

    def close_idle(self) -> None:
        """Close the fork servers that had no run for ``idle_close_s`` (or have died)."""
        now = time.monotonic()
        for server in list(self._servers.values()):
            if not server.alive() or now - server.last_used > self.idle_close_s:
                self._drop(server)

    def close(self) -> None:
        """Close every fork server (after ``kill()``, at agent shutdown)."""
        for server in list(self._servers.values()):
            self._drop(server)
