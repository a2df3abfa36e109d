"""Runs one worker subprocess per measurement and turns every way it can end into an outcome.

The worker is ``sys.executable -m testbed_agent.worker`` in its own session (process group), so
a timeout or a shutdown kills it together with anything it started. The outcomes:

* the worker printed a result JSON          -> result (it may be ``{"error": ...}``)
* it ran past ``timeout_s``                 -> "inference timed out after X s (worker killed)..."
* it died (signal or non-zero exit status)  -> "worker crashed (signal 11 SIGSEGV)..." + stderr
* the agent shut down meanwhile             -> "the agent shut down while the run was in progress"
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
STDERR_TAIL_CHARS = 4000


@dataclass
class WorkerOutcome:
    """How a worker ended: a result dict, or an error line; plus the end of its stderr."""

    result: dict[str, Any] | None
    error: str | None
    stderr_tail: str


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
    """Starts workers one at a time; ``kill()`` stops the current one (agent shutdown)."""

    def __init__(self, python: str = sys.executable, cwd: Path | None = None) -> None:
        self.python = python
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, request: dict[str, Any], timeout_s: float) -> WorkerOutcome:
        """Run one worker with ``request`` on stdin; wait at most ``timeout_s`` seconds."""
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
                return WorkerOutcome(None, f"inference timed out after {timeout_s:g} s (worker "
                                     "killed); raise timeout_s or check the model", tail)
        finally:
            with self._lock:
                self._proc = None
        return self._outcome(proc.returncode, out, err.decode(errors="replace"))

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
            proc = self._proc
        if proc is not None and proc.poll() is None:
            self._kill_group(proc)
