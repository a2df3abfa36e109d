"""Runs one worker subprocess per measurement and turns every way it can end into an outcome.

Each worker is a fresh process in its own session (process group), so a timeout or a shutdown
kills it together with anything it started. It is started one of two ways:

* ``forkserver`` (the default): forked by the runtime's fork server (``forkpool`` keeps them, one
  per runtime, started on a runtime's first run or by ``prestart``, and never beside a timed
  run). Where a server cannot be started or dies, the run falls back to ``exec`` and its
  ``worker`` record says why.
* ``exec``: ``sys.executable -m testbed_agent.worker``, a new interpreter per run.

The outcomes:

* the worker printed a result JSON          -> result (it may be ``{"error": ...}``)
* it ran past ``timeout_s``                 -> "inference timed out after X s (worker killed)..."
* it died (signal or non-zero exit status)  -> "worker crashed (signal 11 SIGSEGV)..." + stderr
* the agent shut down meanwhile             -> "the agent shut down while the run was in progress"
* ... or before the worker was spawned     -> "the agent shut down before the run started"

What lives where: ``WorkerRunner`` (the runs) here; the fork servers and the rule that none
starts beside a run in ``forkpool`` (``ForkServerPool``, which ``WorkerRunner`` extends); the
worker's environment, its pipes and ``WorkerOutcome`` with the words of its error lines in
``worker_io``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .forkpool import IDLE_CLOSE_S, ForkServerPool
from .forkserver import ForkServer, ForkServerError
from .worker_io import (
    STDERR_TAIL_CHARS,
    WorkerOutcome,
    communicate,
    describe_exit,
    last_line,
    timeout_error,
    worker_env,
)

__all__ = ["NOT_STARTED", "WorkerOutcome", "WorkerRunner"]  # WorkerOutcome lives in .worker_io; run() returns it

# the same words as the manager's for a queued run the shutdown found: one error per cause
NOT_STARTED = "the agent shut down before the run started"


class WorkerRunner(ForkServerPool):
    """Starts workers one at a time; ``kill()`` stops the current one (agent shutdown), ``close()``
    the fork servers. ``fork=False``: every worker exec'd (and ``python`` may be any program
    speaking the worker protocol, as the tests' fake workers do)."""

    def __init__(self, python: str = sys.executable, cwd: Path | None = None, fork: bool = True,
                 idle_close_s: float = IDLE_CLOSE_S) -> None:
        super().__init__(python, cwd, fork, idle_close_s)
        self._proc: subprocess.Popen[bytes] | None = None
        self._server: ForkServer | None = None  # the one running a worker now
        self._pid: int | None = None  # the forked worker's pid while it runs

    def current_pid(self) -> int | None:
        """The running worker's pid (None between runs): the load watch reads its CPU use."""
        with self._lock:
            return self._proc.pid if self._proc is not None else self._pid

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
                return WorkerOutcome(None, NOT_STARTED, "")
            try:
                pid, stdin, stdout, stderr = server.spawn()
            except ForkServerError:
                self._drop(server)
                return None
            self._server, self._pid = server, pid
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
                self._server = self._pid = None
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
                return WorkerOutcome(None, NOT_STARTED, "")
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

