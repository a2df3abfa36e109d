"""Open a paramiko SSH connection the way the user's OpenSSH would: ~/.ssh/config, known_hosts, keys."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from ..errors import AuthError, HostKeyError, TransportError
from ..profiles import SshSettings


@dataclass
class Target:
    """Where to connect, after merging the profile with ~/.ssh/config."""

    alias: str
    hostname: str
    port: int
    user: str | None
    key_files: list[str]
    known_hosts: Path

    @property
    def label(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve(settings: SshSettings, config_path: Path = Path("~/.ssh/config")) -> Target:
    """Profile values win; ~/.ssh/config fills the rest (HostName, User, Port, IdentityFile)."""
    cfg: dict = {}
    path = config_path.expanduser()
    if path.is_file():
        cfg = paramiko.SSHConfig.from_path(str(path)).lookup(settings.host)
    keys = [settings.key_file] if settings.key_file else list(cfg.get("identityfile", []))
    return Target(
        alias=settings.host,
        hostname=cfg.get("hostname", settings.host),
        port=settings.port or int(cfg.get("port", 22)),
        user=settings.user or cfg.get("user"),
        key_files=[str(Path(k).expanduser()) for k in keys],
        known_hosts=Path(settings.known_hosts).expanduser(),
    )


def connect(settings: SshSettings, profile_id: str, retries: int = 3) -> tuple[paramiko.SSHClient, Target]:
    """Connect with host-key checking; transient network errors are retried with backoff."""
    target = resolve(settings)
    delay = 1.0
    for attempt in range(1, retries + 1):
        try:
            return _connect_once(settings, profile_id, target), target
        except TransportError as exc:
            if not getattr(exc, "transient", False) or attempt == retries:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _connect_once(settings: SshSettings, profile_id: str, target: Target) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if target.known_hosts.is_file():
        client.load_host_keys(str(target.known_hosts))
    elif settings.trust_on_first_use:
        target.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        target.known_hosts.touch(mode=0o600)
        client.load_host_keys(str(target.known_hosts))
    client.set_missing_host_key_policy(
        paramiko.AutoAddPolicy() if settings.trust_on_first_use else paramiko.RejectPolicy())
    try:
        client.connect(
            target.hostname, port=target.port, username=target.user,
            key_filename=target.key_files or None, timeout=settings.connect_timeout_s,
            banner_timeout=settings.connect_timeout_s, auth_timeout=settings.connect_timeout_s,
            allow_agent=True, look_for_keys=not target.key_files)
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"host key of {target.label} does NOT match {target.known_hosts} (re-flashed board or an "
            f"attack); if you trust the board: ssh-keygen -R '{target.known_hosts_name}' and connect again") from exc
    except paramiko.AuthenticationException as exc:
        raise AuthError(f"SSH login to {target.label} refused ({exc}); check ssh.user / ssh.key_file "
                        f"in profile '{profile_id}' (or `ssh {target.alias}` by hand)") from exc
    except paramiko.SSHException as exc:
        if "not found in known_hosts" in str(exc):
            raise HostKeyError(
                f"unknown host key for {target.label}: not in {target.known_hosts}; verify it and add it "
                f"(ssh-keyscan -p {target.port} {target.hostname} >> {target.known_hosts}) or set "
                f"ssh.trust_on_first_use: true in profile '{profile_id}'") from exc
        raise _transient(f"SSH handshake with {target.label} failed: {exc}") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise _transient(f"connecting to {target.label} timed out after {settings.connect_timeout_s:.0f} s; "
                         f"is the board on and is '{target.hostname}' its address?") from exc
    except OSError as exc:
        raise _transient(f"cannot reach {target.label}: {exc.strerror or exc}; is the board on and sshd "
                         "running?") from exc
    transport = client.get_transport()
    if transport is not None and settings.keepalive_s:
        transport.set_keepalive(settings.keepalive_s)
    return client


def _transient(message: str) -> TransportError:
    err = TransportError(message)
    err.transient = True  # type: ignore[attr-defined]
    return err
