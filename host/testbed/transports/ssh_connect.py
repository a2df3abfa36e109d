"""Open a paramiko SSH connection the way the user's OpenSSH would: ~/.ssh/config, known_hosts, keys.

``~/.ssh/config`` (or ``$TESTBED_SSH_CONFIG``) fills what the profile leaves out: HostName, User,
Port, IdentityFile, and ``ProxyJump`` (one or more jump hosts, comma-separated, each
``[user@]host[:port]`` or a Host alias of the same file) or ``ProxyCommand``. A jump hop is an SSH
connection of its own (host key checked against the profile's known_hosts, keys from its own Host
block); the next hop runs over a ``direct-tcpip`` channel through it, like ``ssh -J``.

Every error names what failed or timed out, and which hop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from pydantic import Field

from ..errors import AuthError, ConfigError, HostKeyError, TransportError
from .base import TransportSettings

CONFIG_ENV = "TESTBED_SSH_CONFIG"


class SshSettings(TransportSettings):
    """The profile's ``ssh:`` section: how to reach the board. Anything left out comes from
    ``~/.ssh/config`` for ``host``."""

    host: str  # hostname, IP address or a Host alias from ~/.ssh/config
    user: str | None = None  # login user; default from ~/.ssh/config, else the local user
    port: int | None = Field(default=None, ge=1, le=65535)  # default from ~/.ssh/config, else 22
    key_file: str | None = None  # private key; default from ~/.ssh/config IdentityFile, else ssh-agent/default keys
    known_hosts: str = "~/.ssh/known_hosts"  # host keys checked against this file
    trust_on_first_use: bool = False  # accept and save an unknown host key (explicit opt-in)
    connect_timeout_s: float = Field(default=10.0, gt=0)  # TCP + SSH handshake timeout
    keepalive_s: int = Field(default=15, ge=0)  # SSH keepalive interval; 0 = off

    def where(self) -> str:
        return self.host


@dataclass
class Target:
    """Where to connect, after merging the profile with ~/.ssh/config."""

    alias: str
    hostname: str
    port: int
    user: str | None
    key_files: list[str]
    known_hosts: Path
    jumps: list[Target] = field(default_factory=list)  # ProxyJump hops, in order
    proxy_command: str | None = None  # ProxyCommand (tokens already expanded)

    @property
    def label(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.hostname}:{self.port}"

    @property
    def route(self) -> str:
        """The label with its jump hosts, for messages: ``pi@10.0.0.7:22 via jump@gw:22``."""
        if not self.jumps:
            return self.label
        return f"{self.label} via {' -> '.join(j.label for j in self.jumps)}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def ssh_config_path() -> Path:
    """The OpenSSH client config read for Host aliases: ``$TESTBED_SSH_CONFIG`` or ``~/.ssh/config``."""
    return Path(os.environ.get(CONFIG_ENV) or "~/.ssh/config").expanduser()


def _lookup(host: str, path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return paramiko.SSHConfig.from_path(str(path)).lookup(host)
    except Exception as exc:  # paramiko raises plain exceptions for bad config lines
        raise ConfigError(f"{path}: cannot read SSH config: {exc}") from exc


def resolve(settings: SshSettings, config_path: Path | None = None) -> Target:
    """Profile values win; ~/.ssh/config fills the rest (HostName, User, Port, IdentityFile,
    ProxyJump, ProxyCommand)."""
    path = (config_path or ssh_config_path()).expanduser()
    cfg = _lookup(settings.host, path)
    keys = [settings.key_file] if settings.key_file else list(cfg.get("identityfile", []))
    known_hosts = Path(settings.known_hosts).expanduser()
    target = Target(
        alias=settings.host,
        hostname=cfg.get("hostname", settings.host),
        port=settings.port or int(cfg.get("port", 22)),
        user=settings.user or cfg.get("user"),
        key_files=[str(Path(k).expanduser()) for k in keys],
        known_hosts=known_hosts,
    )
    jump = (cfg.get("proxyjump") or "").strip()
    if jump and jump.lower() != "none":
        target.jumps = [_resolve_hop(spec.strip(), path, known_hosts) for spec in jump.split(",") if spec.strip()]
    elif (cfg.get("proxycommand") or "").strip().lower() not in ("", "none"):
        target.proxy_command = cfg["proxycommand"]
    return target


def _resolve_hop(spec: str, path: Path, known_hosts: Path) -> Target:
    """One ProxyJump entry: ``[user@]host[:port]`` (or ``ssh://user@host:port``), a Host alias or not."""
    if spec.startswith("ssh://"):
        spec = spec[len("ssh://"):]
    user, _, hostport = spec.rpartition("@")
    host, port = hostport, None
    if hostport.startswith("["):  # [v6addr]:port
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if port is not None and not port.isdigit():
        raise ConfigError(f"{path}: ProxyJump '{spec}': port '{port}' is not a number")
    cfg = _lookup(host, path)
    return Target(alias=host, hostname=cfg.get("hostname", host),
                  port=int(port) if port else int(cfg.get("port", 22)),
                  user=user or cfg.get("user"),
                  key_files=[str(Path(k).expanduser()) for k in cfg.get("identityfile", [])],
                  known_hosts=known_hosts)


class JumpSSHClient(paramiko.SSHClient):
    """An SSHClient that also closes the jump-host connections it runs through."""

    def __init__(self) -> None:
        super().__init__()
        self.jumps: list[paramiko.SSHClient] = []

    def close(self) -> None:
        super().close()
        for jump in reversed(self.jumps):
            jump.close()
        self.jumps = []


def connect(settings: SshSettings, profile_id: str, retries: int = 3,
            target: Target | None = None) -> tuple[paramiko.SSHClient, Target]:
    """Connect with host-key checking (through any jump hosts); transient network errors are
    retried with backoff (1 s, 2 s, ...)."""
    target = target or resolve(settings)
    delay = 1.0
    for attempt in range(1, retries + 1):
        try:
            return _connect_chain(settings, profile_id, target), target
        except TransportError as exc:
            if not getattr(exc, "transient", False) or attempt == retries:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _connect_chain(settings: SshSettings, profile_id: str, target: Target) -> JumpSSHClient:
    jumps: list[paramiko.SSHClient] = []
    try:
        sock: paramiko.Channel | paramiko.ProxyCommand | None = None
        prev: Target | None = None
        for hop in target.jumps:
            client = _connect_once(settings, profile_id, hop, sock=sock, via=prev)
            jumps.append(client)
            prev = hop
            nxt = target.jumps[len(jumps)] if len(jumps) < len(target.jumps) else target
            sock = _channel_through(client, hop, nxt, settings.connect_timeout_s)
        if sock is None and target.proxy_command:
            sock = paramiko.ProxyCommand(target.proxy_command)
        main = _connect_once(settings, profile_id, target, sock=sock, via=prev)
    except BaseException:
        for jump in reversed(jumps):
            jump.close()
        raise
    main.jumps = jumps
    return main


def _channel_through(client: paramiko.SSHClient, hop: Target, nxt: Target, timeout_s: float) -> paramiko.Channel:
    transport = client.get_transport()
    assert transport is not None
    try:
        return transport.open_channel("direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0),
                                      timeout=timeout_s)
    except paramiko.ChannelException as exc:
        raise _transient(f"jump host {hop.label} could not reach {nxt.label}: {exc.text or exc} "
                         f"(is the board on, and is '{nxt.hostname}' its address as seen from {hop.alias}?)") from exc
    except paramiko.SSHException as exc:
        if "timeout" in str(exc).lower():
            raise _transient(f"opening a tunnel through jump host {hop.label} to {nxt.label} timed out after "
                             f"{timeout_s:.0f} s (ssh.connect_timeout_s)") from exc
        raise _transient(f"jump host {hop.label} refused a tunnel to {nxt.label}: {exc} "
                         "(AllowTcpForwarding on the jump host?)") from exc


def _connect_once(settings: SshSettings, profile_id: str, target: Target,
                  sock: paramiko.Channel | paramiko.ProxyCommand | None = None,
                  via: Target | None = None) -> JumpSSHClient:
    client = JumpSSHClient()
    if target.known_hosts.is_file():
        client.load_host_keys(str(target.known_hosts))
    elif settings.trust_on_first_use:
        target.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        target.known_hosts.touch(mode=0o600)
        client.load_host_keys(str(target.known_hosts))
    client.set_missing_host_key_policy(
        paramiko.AutoAddPolicy() if settings.trust_on_first_use else paramiko.RejectPolicy())
    where = target.label + (f" (via jump host {via.label})" if via else "")
    timeout = settings.connect_timeout_s
    try:
        client.connect(
            target.hostname, port=target.port, username=target.user,
            # paramiko takes a list of key files (its docstring); types-paramiko says str only
            key_filename=target.key_files or None, timeout=timeout,  # type: ignore[arg-type]
            banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
            allow_agent=True, look_for_keys=not target.key_files, sock=sock)
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"host key of {where} does NOT match {target.known_hosts} (re-flashed board or an "
            f"attack); if you trust the board: ssh-keygen -f {target.known_hosts} -R '{target.known_hosts_name}' "
            "and connect again") from exc
    except paramiko.AuthenticationException as exc:
        if "timeout" in str(exc).lower():
            raise _transient(f"SSH authentication with {where} timed out after {timeout:.0f} s "
                             "(ssh.connect_timeout_s); is the board overloaded?") from exc
        raise AuthError(f"SSH login to {where} refused ({exc}); check ssh.user / ssh.key_file "
                        f"in profile '{profile_id}' (or `ssh {target.alias}` by hand)") from exc
    except paramiko.SSHException as exc:
        text = str(exc)
        if "not found in known_hosts" in text:
            raise HostKeyError(
                f"unknown host key for {where}: not in {target.known_hosts}; verify it and add it "
                f"(ssh-keyscan -p {target.port} {target.hostname} >> {target.known_hosts}) or set "
                f"ssh.trust_on_first_use: true in profile '{profile_id}'") from exc
        if "banner" in text.lower():
            raise _transient(f"SSH handshake with {where} timed out after {timeout:.0f} s waiting for the server's "
                             f"banner (is port {target.port} an SSH server? is the board overloaded?)") from exc
        raise _transient(f"SSH handshake with {where} failed: {exc}") from exc
    except TimeoutError as exc:
        raise _transient(f"connecting to {where} timed out after {timeout:.0f} s (ssh.connect_timeout_s); "
                         f"is the board on and is '{target.hostname}' its address?") from exc
    except OSError as exc:
        raise _transient(f"cannot reach {where}: {exc.strerror or exc}; is the board on and sshd "
                         "running?") from exc
    except EOFError as exc:  # the peer closed the connection mid-handshake
        raise _transient(f"SSH handshake with {where} failed: the connection was closed") from exc
    transport = client.get_transport()
    if transport is not None and settings.keepalive_s:
        transport.set_keepalive(settings.keepalive_s)
    return client


def _transient(message: str) -> TransportError:
    err = TransportError(message)
    err.transient = True  # type: ignore[attr-defined]
    return err
