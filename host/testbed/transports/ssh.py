"""``ssh``: one paramiko connection per deploy; artifacts by SFTP; the agent reached through a tunnel.

On the board (``agent.home``, default ``~/.testbed-agent``)::

    token        the agent's bearer token (0600), made by the host on first start, read over SFTP after
    agent.json   the running agent's state: pid, port, version
    agent.log    its log
    install.json written by `testbed agent install`: version, venv, how the agent is run (service)
    store/artifacts/<sha256>   artifacts and input files, pushed by SFTP and verified by the agent

The same connection serves `testbed agent install`, `testbed doctor` and `testbed devices --live`
(``connect()`` without starting anything, then ``exec()``, ``running_agent()``, ``start_agent()``...).
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
from ..errors import AgentServerError, TransportError
from .base import BoardClient, BoardProfile, Transport
from .progress import Upload
from .registry import register
from .ssh_connect import SshSettings, Target, connect
from .tunnel import Tunnel

SFTP_TIMEOUT_S = 120.0  # one SFTP request (a write, a stat) answering slower than this is an error


@register
class SshTransport(Transport):
    """Implements every capability but ``SharesThisMachine`` (``capabilities.py``): commands,
    files, and the agent's lifecycle and install."""

    name = "ssh"
    about = "boards reached over SSH"
    Settings = SshSettings

    def __init__(self, profile: BoardProfile) -> None:
        super().__init__(profile)
        self._ssh: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._tunnel: Tunnel | None = None
        self._client: AgentClient | None = None
        self.target: Target | None = None
        self.remote_home = ""
        self.agent_home = ""
        self.bytes_sent = 0

    # -- connection -----------------------------------------------------------------------------
    def connect(self, retries: int = 3) -> None:
        """SSH and SFTP only: nothing is started or created on the board."""
        if self._ssh is not None:
            return
        self._ssh, self.target = connect(self.settings(SshSettings), self.profile.id, retries=retries)
        try:
            self._sftp = self._ssh.open_sftp()
            self._sftp.get_channel().settimeout(SFTP_TIMEOUT_S)  # type: ignore[union-attr]
            self.remote_home = self._sftp.normalize(".")
        except (paramiko.SSHException, OSError) as exc:
            self.close()
            raise TransportError(f"SFTP session on {self.profile.id} failed ({type(exc).__name__}: {exc}); "
                                 "does the board's sshd have an sftp Subsystem?") from exc
        self.agent_home = self.expand(self.profile.agent.home)

    def open(self) -> AgentClient:
        self.connect()
        assert self._ssh is not None and self.target is not None
        self._mkdirs(posixpath.join(self.agent_home, "store", "artifacts"))
        token = self.ensure_token()
        state = self.running_agent()
        if state is None:
            state = self.start_agent()
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

    @property
    def sftp(self) -> paramiko.SFTPClient:
        assert self._sftp is not None, "connect() first"
        return self._sftp

    @property
    def ssh(self) -> paramiko.SSHClient:
        assert self._ssh is not None, "connect() first"
        return self._ssh

    # -- artifacts ------------------------------------------------------------------------------
    def send(self, client: BoardClient, path: Path, sha256: str, progress: Upload | None = None) -> int:
        """SFTP the file into the agent's store (tmp name, then rename); the agent verifies the sha256.
        ``progress(sent, total)`` hears every 32 KiB (paramiko's put callback)."""
        if client.has_artifact(sha256):
            return 0
        final = posixpath.join(self.agent_home, "store", "artifacts", sha256)
        self.put(path, final, progress)
        size = path.stat().st_size
        self.bytes_sent += size
        if not client.has_artifact(sha256):
            raise TransportError(f"{path.name} arrived corrupt on {self.profile.id} (sha256 mismatch); retry")
        return size

    def put(self, path: Path, remote: str, progress: Upload | None = None) -> None:
        """SFTP ``path`` to ``remote`` atomically (a temporary name, then rename); ``progress(sent, total)``
        as paramiko calls it."""
        tmp = remote + f".part-{secrets.token_hex(4)}"
        try:
            self.sftp.put(str(path), tmp, callback=progress)
            self.sftp.posix_rename(tmp, remote)
        except TimeoutError as exc:
            raise TransportError(f"SFTP of {path.name} to {self.profile.id} timed out (no answer for "
                                 f"{SFTP_TIMEOUT_S:.0f} s)") from exc
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError(f"SFTP of {path.name} to {self.profile.id} failed: {exc}") from exc

    def write_text(self, remote: str, text: str) -> None:
        """Write ``text`` to ``remote`` on the board (SFTP)."""
        try:
            with self.sftp.open(remote, "w") as fh:
                fh.write(text)
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError(f"cannot write {remote} on {self.profile.id}: {exc}") from exc

    def file_sizes(self, remote_dir: str) -> dict[str, int]:
        """The files of ``remote_dir`` on the board and their sizes (SFTP)."""
        try:
            return {a.filename: a.st_size or 0 for a in self.sftp.listdir_attr(remote_dir)}
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError(f"cannot list {remote_dir} on {self.profile.id}: {exc}") from exc

    # -- agent lifecycle ------------------------------------------------------------------------
    def ensure_token(self) -> str:
        """The agent's token lives on the board only; make it once, then read it over SSH."""
        path = posixpath.join(self.agent_home, "token")
        try:
            with self.sftp.open(path, "r") as fh:
                token = fh.read().decode().strip()
            if token:
                return token
        except FileNotFoundError:
            pass
        token = secrets.token_urlsafe(32)
        with self.sftp.open(path, "w") as fh:
            fh.chmod(0o600)
            fh.write(token + "\n")
        return token

    def read_json(self, name: str) -> dict | None:
        """A JSON file in the agent's home on the board, or None when missing or unreadable."""
        try:
            with self.sftp.open(posixpath.join(self.agent_home, name), "r") as fh:
                data = json.loads(fh.read().decode())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def running_agent(self) -> dict | None:
        """The running agent's state (agent.json) when its process is alive, else None."""
        state = self.read_json("agent.json")
        if state is None:
            return None
        alive, _ = self.exec(f"kill -0 {int(state.get('pid', 0))}")
        return state if alive == 0 else None

    def agent_command(self) -> str:
        """The command line that serves the agent on the board (also the systemd unit's ExecStart)."""
        agent, home = self.profile.agent, self.agent_home
        return (f"{shlex.quote(self.expand(agent.python))} -m testbed_agent.cli serve "
                f"--host 127.0.0.1 --port {agent.port} --store {shlex.quote(posixpath.join(home, 'store'))} "
                f"--token-file {shlex.quote(posixpath.join(home, 'token'))} "
                f"--state-file {shlex.quote(posixpath.join(home, 'agent.json'))} "
                f"--run-timeout-s {self.profile.measure.timeout_s:g}")

    def start_agent(self) -> dict:
        """Start the agent (its systemd unit when `testbed agent install` made one, else a background
        process) and wait for its state file."""
        agent, home = self.profile.agent, self.agent_home
        state_file = posixpath.join(home, "agent.json")
        self.exec(f"rm -f {shlex.quote(state_file)}")
        service = (self.read_json("install.json") or {}).get("service") or {}
        if service.get("kind") in ("systemd-user", "systemd-system"):
            user = " --user" if service["kind"] == "systemd-user" else ""
            code, out = self.exec(f"systemctl{user} restart {shlex.quote(service['unit'])}")
            if code != 0:
                raise AgentServerError(f"systemctl{user} restart {service['unit']} on {self.profile.id} failed: "
                                       f"{out.strip()[-200:]}")
        else:
            self.exec(f"cd {shlex.quote(home)} || exit 1; nohup {self.agent_command()} "
                      f">> agent.log 2>&1 < /dev/null &")
        deadline = time.monotonic() + agent.start_timeout_s
        while time.monotonic() < deadline:
            state = self.running_agent()
            if state is not None:
                return state
            time.sleep(0.3)
        _, log = self.exec(f"tail -n 3 {shlex.quote(posixpath.join(home, 'agent.log'))}")
        last = log.strip().splitlines()[-1] if log.strip() else "no log output"
        raise AgentServerError(f"agent on {self.profile.id} did not start within {agent.start_timeout_s:.0f} s "
                               f"(agent.start_timeout_s): {last} (is the agent installed for "
                               f"{self.expand(agent.python)}? run `testbed agent install --device {self.profile.id}`)")

    def stop_agent(self, timeout_s: float = 15.0) -> bool:
        """Stop the running agent (SIGTERM, then SIGKILL); True when one was running."""
        service = (self.read_json("install.json") or {}).get("service") or {}
        if service.get("kind") in ("systemd-user", "systemd-system"):
            user = " --user" if service["kind"] == "systemd-user" else ""
            self.exec(f"systemctl{user} stop {shlex.quote(service['unit'])}")
        state = self.running_agent()
        if state is None:
            return bool(service.get("kind", "").startswith("systemd"))
        pid = int(state["pid"])
        self.exec(f"kill -TERM {pid}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.exec(f"kill -0 {pid}")[0] != 0:
                break
            time.sleep(0.2)
        else:
            self.exec(f"kill -KILL {pid}")
        self.exec(f"rm -f {shlex.quote(posixpath.join(self.agent_home, 'agent.json'))}")
        return True

    def agent_client(self) -> AgentClient:
        """A client for the running agent through a tunnel of this connection (no start)."""
        if self._client is not None:
            return self._client
        state = self.running_agent()
        if state is None:
            raise AgentServerError(f"the agent is not running on {self.profile.id}")
        assert self.target is not None
        self._tunnel = Tunnel(self.ssh.get_transport(), int(state["port"]))  # type: ignore[arg-type]
        self._client = AgentClient(f"http://127.0.0.1:{self._tunnel.local_port}", self.ensure_token(),
                                   where=f"{self.profile.id} ({self.target.label})", timeout_s=15)
        return self._client

    def _wait_health(self, timeout_s: float) -> None:
        assert self._client is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._client.health()
                return
            except AgentServerError as exc:  # a 4xx (a wrong token) does not go away by waiting
                if time.monotonic() > deadline:
                    raise AgentServerError(f"agent on {self.profile.id} did not answer /v1/health within "
                                           f"{timeout_s:.0f} s (agent.start_timeout_s): {exc}") from exc
                time.sleep(0.3)

    # -- helpers --------------------------------------------------------------------------------
    def exec(self, command: str, timeout_s: float = 30) -> tuple[int, str]:
        """Run a shell command on the board: (exit status, stdout + stderr)."""
        try:
            _, stdout, stderr = self.ssh.exec_command(command, timeout=timeout_s)
            out = stdout.read().decode(errors="replace") + stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), out
        except TimeoutError as exc:
            raise TransportError(f"command on {self.profile.id} timed out after {timeout_s:.0f} s: "
                                 f"{_short(command)}") from exc
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(f"command on {self.profile.id} failed ({type(exc).__name__}: {exc}): "
                                 f"{_short(command)}") from exc

    def _mkdirs(self, path: str) -> None:
        code, out = self.exec(f"mkdir -p {shlex.quote(path)} && chmod 700 {shlex.quote(self.agent_home)}")
        if code != 0:
            raise TransportError(f"cannot create {path} on {self.profile.id}: {out.strip()}")

    def expand(self, path: str) -> str:
        """``~/x`` on the board -> ``<remote home>/x``."""
        return self._expand(path, self.remote_home)

    @staticmethod
    def _expand(path: str, remote_home: str) -> str:
        if path == "~" or path.startswith("~/"):
            return posixpath.join(remote_home, path[2:])
        return path


def _short(command: str, limit: int = 100) -> str:
    return command if len(command) <= limit else command[:limit] + "..."
