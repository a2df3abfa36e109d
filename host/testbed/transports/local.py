"""``local``: the agent runs as a subprocess of the host on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..agent_client import AgentClient
from ..errors import AgentError
from ..paths import home
from .registry import register
from .base import Transport

READY_PREFIX = "testbed-agent listening on "


@register
class LocalTransport(Transport):
    name = "local"

    def __init__(self, profile, store: Path | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self.store = store or home() / "local-agent" / "store"
        self._proc: subprocess.Popen[str] | None = None
        self._client: AgentClient | None = None

    def open(self) -> AgentClient:
        self.store.mkdir(parents=True, exist_ok=True)
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
        raise AgentError(f"local agent did not start within {timeout_s:.0f} s"
                         + (f": {tail[0]}" if tail else "") + f" (log: {log})")
    return found[0]
