"""``ssh``: one paramiko connection per deploy; artifacts by SFTP; the agent reached through a tunnel.

On the board (``agent.home``, default ``~/.testbed-agent``)::

    token        the agent's bearer token (0600), made by the host on first start, read over SFTP after
    agent.json   the running agent's state: pid, port, version
    agent.log    its log
    store/artifacts/<sha256>   artifacts and input files, pushed by SFTP and verified by the agent
"""

from __future__ import annotations

import json
import posixpath
import secrets
import shlex
import time
from pathlib import Path

import paramiko

from ..agent_client import AgentClient
from ..errors import AgentError, TransportError
from .base import Transport
from .registry import register
from .ssh_connect import Target, connect
from .tunnel import Tunnel


@register
class SshTransport(Transport):
    name = "ssh"

    def __init__(self, profile) -> None:  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self._ssh: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._tunnel: Tunnel | None = None
        self._client: AgentClient | None = None
        self.target: Target | None = None
        self.bytes_sent = 0

    # -- connection -----------------------------------------------------------------------------
    def open(self) -> AgentClient:
        assert self.profile.ssh is not None
        self._ssh, self.target = connect(self.profile.ssh, self.profile.id)
        self._sftp = self._ssh.open_sftp()
        remote_home = self._sftp.normalize(".")
        self.agent_home = self._expand(self.profile.agent.home, remote_home)
        self._mkdirs(posixpath.join(self.agent_home, "store", "artifacts"))
        token = self._token()
        state = self._running_agent()
        if state is None:
            state = self._start_agent(remote_home)
        assert self._ssh.get_transport() is not None
        self._tunnel = Tunnel(self._ssh.get_transport(), int(state["port"]))  # type: ignore[arg-type]
        self._client = AgentClient(f"http://127.0.0.1:{self._tunnel.local_port}", token,
                                   where=f"{self.profile.id} ({self.target.label})")
        self._wait_health(self.profile.agent.start_timeout_s)
        return self._client

    def close(self) -> None:
        for part in (self._client, self._tunnel, self._sftp, self._ssh):
            if part is not None:
                part.close()
        self._client = self._tunnel = self._sftp = self._ssh = None

    # -- artifacts ------------------------------------------------------------------------------
    def send(self, client: AgentClient, path: Path, sha256: str) -> int:
        """SFTP the file into the agent's store (tmp name, then rename); the agent verifies the sha256."""
        if client.has_artifact(sha256):
            return 0
        assert self._sftp is not None
        final = posixpath.join(self.agent_home, "store", "artifacts", sha256)
        tmp = final + f".part-{secrets.token_hex(4)}"
        try:
            self._sftp.put(str(path), tmp)
            self._sftp.posix_rename(tmp, final)
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError(f"SFTP of {path.name} to {self.profile.id} failed: {exc}") from exc
        size = path.stat().st_size
        self.bytes_sent += size
        if not client.has_artifact(sha256):
            raise TransportError(f"{path.name} arrived corrupt on {self.profile.id} (sha256 mismatch); retry")
        return size

    # -- agent lifecycle ------------------------------------------------------------------------
    def _token(self) -> str:
        """The agent's token lives on the board only; make it once, then read it over SSH."""
        assert self._sftp is not None
        path = posixpath.join(self.agent_home, "token")
        try:
            with self._sftp.open(path, "r") as fh:
                token = fh.read().decode().strip()
            if token:
                return token
        except FileNotFoundError:
            pass
        token = secrets.token_urlsafe(32)
        with self._sftp.open(path, "w") as fh:
            fh.chmod(0o600)
            fh.write(token + "\n")
        return token

    def _running_agent(self) -> dict | None:
        assert self._sftp is not None
        try:
            with self._sftp.open(posixpath.join(self.agent_home, "agent.json"), "r") as fh:
                state = json.loads(fh.read().decode())
        except (FileNotFoundError, ValueError):
            return None
        alive, _ = self._exec(f"kill -0 {int(state.get('pid', 0))}")
        return state if alive == 0 else None

    def _start_agent(self, remote_home: str) -> dict:
        agent = self.profile.agent
        home = self.agent_home
        python = self._expand(agent.python, remote_home)
        state_file = posixpath.join(home, "agent.json")
        self._exec(f"rm -f {shlex.quote(state_file)}")
        cmd = (f"cd {shlex.quote(home)} || exit 1; nohup {shlex.quote(python)} -m testbed_agent.cli serve "
               f"--host 127.0.0.1 --port {agent.port} --store {shlex.quote(posixpath.join(home, 'store'))} "
               f"--token-file {shlex.quote(posixpath.join(home, 'token'))} "
               f"--state-file {shlex.quote(state_file)} "
               f"--run-timeout-s {self.profile.measure.timeout_s:g} "
               f">> agent.log 2>&1 < /dev/null &")
        self._exec(cmd)
        deadline = time.monotonic() + agent.start_timeout_s
        while time.monotonic() < deadline:
            state = self._running_agent()
            if state is not None:
                return state
            time.sleep(0.3)
        _, log = self._exec(f"tail -n 3 {shlex.quote(posixpath.join(home, 'agent.log'))}")
        last = log.strip().splitlines()[-1] if log.strip() else "no log output"
        raise AgentError(f"agent on {self.profile.id} did not start within {agent.start_timeout_s:.0f} s: "
                         f"{last} (is testbed installed for {python}? `testbed agent install` comes later)")

    def _wait_health(self, timeout_s: float) -> None:
        assert self._client is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._client.health()
                return
            except AgentError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    # -- helpers --------------------------------------------------------------------------------
    def _exec(self, command: str, timeout_s: float = 30) -> tuple[int, str]:
        assert self._ssh is not None
        try:
            _, stdout, stderr = self._ssh.exec_command(command, timeout=timeout_s)
            out = stdout.read().decode(errors="replace") + stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), out
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(f"command on {self.profile.id} failed ({type(exc).__name__}: {exc}): {command[:80]}") from exc

    def _mkdirs(self, path: str) -> None:
        code, out = self._exec(f"mkdir -p {shlex.quote(path)} && chmod 700 {shlex.quote(self.agent_home)}")
        if code != 0:
            raise TransportError(f"cannot create {path} on {self.profile.id}: {out.strip()}")

    @staticmethod
    def _expand(path: str, remote_home: str) -> str:
        if path == "~" or path.startswith("~/"):
            return posixpath.join(remote_home, path[2:])
        return path
