"""Runs one worker subprocess per measurement and turns every way it can end into an outcome.

Each worker is a fresh process in its own session (process group), so a timeout or a shutdown
kills it together with anything it started. It is started one of two ways:

* ``forkserver`` (the default): forked by the runtime's fork server (``forkserver``), a process
  that imported the runtime once; starting a worker costs a fork instead of an interpreter start
  and the runtime's import (seconds; ExecuTorch's torch import is 15 s on a loaded 2-core
  machine). A server is started on a runtime's first run and closed after ``idle_close_s``
  without runs. Where a server cannot be started or dies, the run falls back to ``exec`` and
  its ``worker`` record says why. ``prestart(runtimes)`` starts servers ahead of their first run
  (``POST /v1/workers/prestart``, which the host sends right after it connects), so their import
  overlaps with the host's own preparation instead of following it.
* ``exec``: ``sys.executable -m testbed_agent.worker``, a new interpreter per run.

Timing honesty on a small board: importing a runtime (torch: seconds of both cores) while
another runtime is being timed would slow that measurement down. So a fork server never starts
while a worker runs, and a worker never starts while a fork server is starting: a run first waits
for every server still starting, and that wait is its ``server_start_s`` (phase ``server_start``).
Several servers start side by side (their imports share the cores, one measurement is disturbed
by none of them): a deploy then pays max(host preparation, the slowest start) instead of the sum
of every runtime's start after the host's preparation.

The outcomes:

* the worker printed a result JSON          -> result (it may be ``{"error": ...}``)
* it ran past ``timeout_s``                 -> "inference timed out after X s (worker killed)..."
* it died (signal or non-zero exit status)  -> "worker crashed (signal 11 SIGSEGV)..." + stderr
* the agent shut down meanwhile             -> "the agent shut down while the run was in progress"
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .forkserver import ForkServer, ForkServerError

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
STDERR_TAIL_CHARS = 4000
#: A fork server without runs for this long is closed (its runtime's memory given back).
IDLE_CLOSE_S = 600.0


@dataclass
class WorkerOutcome:
    """How a worker ended: a result dict, or an error line; plus the end of its stderr."""

    result: dict[str, Any] | None
    error: str | None
    stderr_tail: str
    #: How the worker was started and when (monotonic ns): ``start`` (forkserver / exec),
    #: ``spawn_monotonic_ns`` (just before asking for the process), ``exit_monotonic_ns`` (its end
    #: seen), ``server_start_s`` (a fork server started for this run), ``fallback`` (why exec).
    worker: dict[str, Any] = field(default_factory=dict)


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (empty string when there is none)."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def describe_exit(returncode: int) -> str:
    """``signal 11 SIGSEGV`` or ``exit status 3``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"signal {-returncode} {name}"
    return f"exit status {returncode}"


def worker_env() -> dict[str, str]:
    """The agent's environment; when this package is not on ``sys.path`` (editable installs,
    a source checkout), its parent folder is appended to PYTHONPATH so the worker finds it."""
    env = dict(os.environ)
    on_path = {os.path.realpath(p or os.curdir) for p in sys.path}
    if os.path.realpath(PACKAGE_PARENT) not in on_path:
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] + [PACKAGE_PARENT]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerRunner:
    """Starts workers one at a time; ``kill()`` stops the current one (agent shutdown), ``close()``
    the fork servers. ``fork=False``: every worker exec'd (and ``python`` may be any program
    speaking the worker protocol, as the tests' fake workers do)."""

    def __init__(self, python: str = sys.executable, cwd: Path | None = None, fork: bool = True,
                 idle_close_s: float = IDLE_CLOSE_S) -> None:
        self.python = python
        self.cwd = cwd
        self.fork = fork and hasattr(socket, "send_fds")
        self.idle_close_s = idle_close_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._server: ForkServer | None = None  # the one running a worker now
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

    def run(self, request: dict[str, Any], timeout_s: float) -> WorkerOutcome:
        """Run one worker with ``request`` on stdin; wait at most ``timeout_s`` seconds (after the
        fork servers still starting, if any: their wait is part of ``server_start_s``)."""
        waited = self._begin_run() if self.fork else 0.0
        try:
            outcome = self._run(request, timeout_s, waited)
        finally:
            if self.fork:
                self._end_run()
        return outcome

    def _run(self, request: dict[str, Any], timeout_s: float, waited: float) -> WorkerOutcome:
        runtime = str(request.get("runtime", ""))
        server_start_s = waited if waited >= 0.001 else None
        fallback = None
        if self.fork:
            if runtime not in self._servers and runtime not in self._broken:
                try:
                    started = ForkServer(runtime, self.python, self.cwd, worker_env())
                    server_start_s = (server_start_s or 0.0) + started.start_s
                    with self._lock:
                        self._servers[runtime] = started
                except ForkServerError as exc:
                    self._broken[runtime] = f"fork server for {runtime} unavailable: {exc}"
            fallback = self._broken.get(runtime)
            server = self._servers.get(runtime)
            if server is not None:
                outcome = self._run_forked(server, request, timeout_s)
                if outcome is not None:
                    outcome.worker["server_start_s"] = server_start_s
                    outcome.worker["server_prestarted"] = runtime in self._prestarted
                    return outcome
                fallback = f"fork server for {runtime} stopped answering; restarted on the next run"
        outcome = self._run_exec(request, timeout_s)
        outcome.worker.update(server_start_s=server_start_s, fallback=fallback)
        return outcome

    def _run_forked(self, server: ForkServer, request: dict[str, Any], timeout_s: float
                    ) -> WorkerOutcome | None:
        """One worker forked by ``server``; None when the server failed before the worker ran."""
        spawned = time.monotonic_ns()
        with self._lock:
            if self._stopping:
                return WorkerOutcome(None, "the agent is shutting down; the run was not started", "")
            try:
                pid, stdin, stdout, stderr = server.spawn()
            except ForkServerError:
                self._drop(server)
                return None
            self._server = server
        deadline = time.monotonic() + timeout_s
        try:
            out, err, timed_out = communicate(stdin, stdout, stderr, json.dumps(request).encode(),
                                              deadline)
            if timed_out:
                server.kill_worker()
            try:
                returncode = server.wait_exit(time.monotonic() + (10 if timed_out else
                                                                  max(10.0, deadline - time.monotonic())))
            except ForkServerError as exc:
                server.kill_worker()
                self._drop(server)
                return WorkerOutcome(None, f"worker lost: its fork server failed ({exc})",
                                     err.decode(errors="replace")[-STDERR_TAIL_CHARS:],
                                     {"start": "forkserver", "pid": pid})
        finally:
            with self._lock:
                self._server = None
        worker = {"start": "forkserver", "pid": pid, "spawn_monotonic_ns": spawned,
                  "exit_monotonic_ns": time.monotonic_ns()}
        if timed_out:
            return WorkerOutcome(None, timeout_error(timeout_s),
                                 err.decode(errors="replace")[-STDERR_TAIL_CHARS:], worker)
        outcome = self._outcome(returncode, out, err.decode(errors="replace"))
        outcome.worker = worker
        return outcome

    def _run_exec(self, request: dict[str, Any], timeout_s: float) -> WorkerOutcome:
        spawned = time.monotonic_ns()
        with self._lock:
            if self._stopping:
                return WorkerOutcome(None, "the agent is shutting down; the run was not started", "")
            proc = subprocess.Popen(
                [self.python, "-m", "testbed_agent.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.cwd, env=worker_env(),
                start_new_session=True)
            self._proc = proc
        try:
            try:
                out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
                out, err = proc.communicate()
                tail = err.decode(errors="replace")[-STDERR_TAIL_CHARS:]
                return WorkerOutcome(None, timeout_error(timeout_s), tail, {"start": "exec"})
        finally:
            with self._lock:
                self._proc = None
        outcome = self._outcome(proc.returncode, out, err.decode(errors="replace"))
        outcome.worker = {"start": "exec", "spawn_monotonic_ns": spawned,
                          "exit_monotonic_ns": time.monotonic_ns()}
        return outcome

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

    def _outcome(self, returncode: int, out: bytes, err: str) -> WorkerOutcome:
        tail = err[-STDERR_TAIL_CHARS:]
        line = last_line(err)
        if self._stopping:
            return WorkerOutcome(None, "the agent shut down while the run was in progress "
                                 "(worker killed)", tail)
        if returncode != 0:
            return WorkerOutcome(None, f"worker crashed ({describe_exit(returncode)}); last stderr "
                                 f"line: {line or '(none)'}", tail)
        try:
            result = json.loads(out)
            if not isinstance(result, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            return WorkerOutcome(None, "worker exited without a readable result on stdout; last "
                                 f"stderr line: {line or '(none)'}", tail)
        return WorkerOutcome(result, None, tail)

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """Refuse new workers and kill the running one, if any."""
        with self._lock:
            self._stopping = True
            proc, server = self._proc, self._server
            self._changed.notify_all()
        if proc is not None and proc.poll() is None:
            self._kill_group(proc)
        if server is not None:
            server.kill_worker()


def timeout_error(timeout_s: float) -> str:
    return (f"inference timed out after {timeout_s:g} s (worker killed); raise timeout_s or check "
            "the model")


def communicate(stdin: int, stdout: int, stderr: int, data: bytes, deadline: float
                ) -> tuple[bytes, bytes, bool]:
    """Write ``data`` to ``stdin`` (then close it) and read ``stdout`` and ``stderr`` to their end
    or until ``deadline`` (monotonic); ``(out, err, timed_out)``. Closes the three fds."""
    chunks: dict[int, list[bytes]] = {stdout: [], stderr: []}
    pending = memoryview(data)
    sel = selectors.DefaultSelector()
    open_fds = {stdin, stdout, stderr}
    try:
        os.set_blocking(stdin, False)
        sel.register(stdin, selectors.EVENT_WRITE)
        sel.register(stdout, selectors.EVENT_READ)
        sel.register(stderr, selectors.EVENT_READ)
        while open_fds - {stdin} or (stdin in open_fds and pending):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks[stdout]), b"".join(chunks[stderr]), True
            for key, _ in sel.select(remaining):
                fd = int(key.fd)
                if fd == stdin:
                    try:
                        pending = pending[os.write(stdin, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(stdin)
                        os.close(stdin)
                        open_fds.discard(stdin)
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    sel.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
        return b"".join(chunks[stdout]), b"".join(chunks[stderr]), False
    finally:
        sel.close()
        for fd in open_fds:  # only ours: a closed number may belong to another thread by now
            os.close(fd)
