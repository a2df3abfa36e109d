"""``local``: the agent runs as a subprocess of the host on a free port of 127.0.0.1.

Every testbed process starts its own local agent, so two of them (a deploy while a nightly runs)
would measure on the same CPUs at once and spoil both results. A per-user lock file on this machine
serialises them: the second waits, says for whom, and measures when the first has closed.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from ..agent_client import AgentClient
from ..errors import AgentServerError
from ..paths import home
from .base import BoardProfile, Transport
from .registry import register

READY_PREFIX = "testbed-agent listening on "


@register
class LocalTransport(Transport):
    """Takes no profile section; implements ``SharesThisMachine`` (``capabilities.py``)."""

    name = "local"
    about = "this machine: the agent runs from this install, started per deploy"

    def __init__(self, profile: BoardProfile, store: Path | None = None) -> None:
        super().__init__(profile)
        self.store = store or home() / "local-agent" / "store"
        self._proc: subprocess.Popen[str] | None = None
        self._client: AgentClient | None = None
        self._lock: _Hold | None = None

    def open(self) -> AgentClient:
        self.store.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = machine_lock(self.notify)
        token = secrets.token_urlsafe(32)
        env = dict(os.environ, TESTBED_AGENT_TOKEN=token)
        cmd = [sys.executable, "-m", "testbed_agent.cli", "serve", "--host", "127.0.0.1", "--port", "0",
               "--store", str(self.store), "--run-timeout-s", str(self.profile.measure.timeout_s)]
        log = open(self.store.parent / "agent.log", "a")
        self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
                                      start_new_session=True)
        url = wait_ready(self._proc, timeout_s=self.profile.agent.start_timeout_s,
                         log=self.store.parent / "agent.log")
        self._client = AgentClient(url, token, where="local")
        return self._client

    def close(self) -> None:
        if self._client:
            self._client.close()
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None
        if self._lock is not None:
            self._lock.close()  # releases the machine lock
            self._lock = None

    @staticmethod
    def machine_lock(notify: Callable[[str], None]) -> _Hold:
        """This machine's measurement lock (``SharesThisMachine``; see ``machine_lock()`` below)."""
        return machine_lock(notify)


def lock_path() -> Path:
    return Path(os.environ.get("TESTBED_LOCAL_LOCK") or
                Path(tempfile.gettempdir()) / f"testbed-local-measure-{os.getuid()}.lock")


def _notify(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Hold:
    """One hold of this process's machine lock; ``close()`` gives it back (the file lock goes with the last)."""

    def __init__(self) -> None:
        self._open = True

    def close(self) -> None:
        with _GUARD:
            if not self._open:
                return
            self._open = False
            _STATE["count"] -= 1
            if _STATE["count"] == 0 and _STATE["fh"] is not None:
                _STATE["fh"].close()  # releases the flock
                _STATE["fh"] = None


_GUARD = threading.Lock()
_STATE: dict = {"fh": None, "count": 0}


def machine_lock(notify: Callable[[str], None] = _notify) -> _Hold:
    """Hold this machine's measurement lock, waiting for it while another testbed process has it.
    Re-entrant inside one process: a nightly board takes it before its timed health check, and the
    local transport it then opens gets it at once."""
    with _GUARD:
        if _STATE["fh"] is None:
            path = lock_path()
            fh = open(path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another testbed process"
                notify(f"waiting: {holder} is measuring on this machine (--device local); two measurements "
                       f"at once would disturb each other (lock {path})")
                fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} ({' '.join(sys.argv[:3])})")
            fh.flush()
            _STATE["fh"] = fh
        _STATE["count"] += 1
        return _Hold()


def wait_ready(proc: subprocess.Popen[str], timeout_s: float, log: Path) -> str:
    """Read the agent's stdout until its ready line; return its base URL."""
    found: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                found.append(line[len(READY_PREFIX):].strip())
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not found:
        proc.kill()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise AgentServerError(f"local agent did not start within {timeout_s:.0f} s"
                               + (f": {tail[0]}" if tail else "") + f" (log: {log})")
    return found[0]
