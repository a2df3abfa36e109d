"""What a board looks like right now, gathered over one SSH connection (for `testbed doctor` and
`testbed devices --live`). Gathering never changes the board (nothing is started or installed).
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

import paramiko

from ..errors import AgentError, AuthError, HostKeyError, TestbedError, TransportError
from ..profiles import Profile
from ..transports.capabilities import SharesThisMachine, has
from ..transports.ssh import SshTransport
from ..transports.ssh_connect import SshSettings, Target, resolve
from .board_venv import STATE_SCRIPT

# One round trip for the machine facts: key=value lines.
FACTS_SCRIPT = r"""
echo "governor=$(cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null | sort -u | tr '\n' ' ')"
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] && echo "temp=$(cat "$z/type" 2>/dev/null || echo zone):$(cat "$z/temp" 2>/dev/null)"
done
d=%(home)s; while [ ! -d "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
echo "disk=$d:$(df -Pk "$d" 2>/dev/null | tail -n 1 | awk '{print $4}')"
echo "hostname=$(hostname 2>/dev/null || uname -n)"
echo "machine=$(uname -m)"
"""

# The local agent's /v1/info document, computed by the interpreter that runs it (no agent started).
LOCAL_INFO_SCRIPT = "import json; from testbed_agent.info import agent_info; print(json.dumps(agent_info()))"


@dataclass
class BoardFacts:
    """Everything `testbed doctor` judges. None = could not be found out (not a problem by itself)."""

    device: str
    transport: str
    where: str = ""
    reachable: bool | None = None
    ssh_error: str | None = None
    ssh_error_kind: str | None = None  # unreachable | hostkey-unknown | hostkey-changed | auth | other
    host_key_known: bool | None = None
    host_key_fingerprint: str | None = None  # of an unknown host key, to verify before trusting it
    keyscan: str | None = None  # the command that adds the key
    known_hosts: str | None = None
    known_hosts_name: str | None = None  # the board's name in known_hosts ([host]:port when port != 22)
    ssh_s: float | None = None  # connect time
    python_exists: bool | None = None  # agent.python on the board
    python: str | None = None
    installed_version: str | None = None  # testbed_agent importable by agent.python
    runtimes_installed: dict = field(default_factory=dict)  # probed with agent.python (no agent needed)
    running: bool | None = None  # agent.json names a live process
    running_pid: int | None = None
    running_version: str | None = None
    health_error: str | None = None  # the process lives but /v1/health does not answer
    info: dict | None = None  # /v1/info of the running agent
    host_version: str = ""  # the agent version this host would install
    governors: list[str] | None = None
    temperatures_c: dict | None = None
    disk_path: str | None = None
    disk_free_bytes: int | None = None
    clock_skew_s: float | None = None
    clock_uncertainty_s: float | None = None
    hostname: str | None = None
    machine: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def gather(profile: Profile, connect_timeout_s: float | None = None, retries: int = 1,
           live_only: bool = False) -> BoardFacts:
    """Facts about the board of ``profile``. ``live_only``: just reachability and the agent (devices --live)."""
    from ..fleet.wheel import agent_version

    facts = BoardFacts(device=profile.id, transport=profile.transport, host_version=agent_version())
    if has(profile.transport, SharesThisMachine):
        _local_facts(facts, live_only)
        return facts
    settings = profile.connection
    if not isinstance(settings, SshSettings):  # the checks below are SSH's (route, host key, login)
        facts.where = settings.where() if settings else profile.transport
        return facts
    if connect_timeout_s is not None:
        settings = settings.model_copy(update={"connect_timeout_s": min(settings.connect_timeout_s, connect_timeout_s)})
        profile = profile.with_connection(settings)
    target = resolve(settings)
    facts.where = target.route
    facts.known_hosts = str(target.known_hosts)
    facts.known_hosts_name = target.known_hosts_name
    facts.host_key_known = _host_key_known(target)
    transport = SshTransport(profile)
    t0 = time.monotonic()
    try:
        transport.connect(retries=retries)
    except HostKeyError as exc:
        facts.reachable, facts.ssh_error = True, str(exc)
        facts.ssh_error_kind = "hostkey-changed" if "does NOT match" in str(exc) else "hostkey-unknown"
        if facts.ssh_error_kind == "hostkey-unknown":
            facts.host_key_known = False
            facts.host_key_fingerprint = _fingerprint(target, settings.connect_timeout_s)
        facts.keyscan = (f"ssh-keyscan -p {target.port} {target.hostname} >> {target.known_hosts}"
                         if not target.jumps else f"ssh -o StrictHostKeyChecking=ask {target.alias} true")
        return facts
    except AuthError as exc:
        facts.reachable, facts.ssh_error, facts.ssh_error_kind = True, str(exc), "auth"
        return facts
    except TransportError as exc:
        facts.reachable, facts.ssh_error, facts.ssh_error_kind = False, str(exc), "unreachable"
        return facts
    facts.reachable, facts.host_key_known = True, True
    facts.ssh_s = time.monotonic() - t0
    try:
        with transport:
            _agent_facts(transport, facts)
            if not live_only:
                _machine_facts(transport, facts)
    except TestbedError as exc:  # the connection dropped midway
        facts.ssh_error, facts.ssh_error_kind = str(exc), "other"
    return facts


def _host_key_known(target: Target) -> bool | None:
    if target.jumps or target.proxy_command:
        return None  # learnt when connecting
    if not target.known_hosts.is_file():
        return False
    keys = paramiko.HostKeys(str(target.known_hosts))
    return keys.lookup(target.known_hosts_name) is not None


def _fingerprint(target: Target, timeout_s: float) -> str | None:
    """The SHA256 fingerprint of the board's host key (handshake only, no login), to verify by hand."""
    if target.jumps or target.proxy_command:
        return None
    try:
        sock = socket.create_connection((target.hostname, target.port), timeout=timeout_s)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout_s)
            key = transport.get_remote_server_key()
            return f"{key.get_name()} {key.fingerprint}"
        finally:
            transport.close()
    except (OSError, paramiko.SSHException, EOFError):
        return None


def _agent_facts(transport: SshTransport, facts: BoardFacts) -> None:
    python = transport.expand(transport.profile.agent.python)
    facts.python = python
    code, out = transport.exec(f"{shlex.quote(python)} - <<'TESTBED_EOF'\n{STATE_SCRIPT}\nTESTBED_EOF",
                               timeout_s=60)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    facts.python_exists = code == 0 and bool(lines)
    if facts.python_exists:
        state = json.loads(lines[-1])
        facts.installed_version = state.get("agent_version")
        facts.runtimes_installed = state.get("runtimes") or {}
    state = transport.running_agent()
    facts.running = state is not None
    if state is None:
        return
    facts.running_pid, facts.running_version = state.get("pid"), state.get("version")
    try:
        client = transport.agent_client()
        client.health()
        facts.info = client.info()
    except AgentError as exc:
        facts.health_error = str(exc)


def _local_facts(facts: BoardFacts, live_only: bool) -> None:
    """This machine, judged like a board: the interpreter the local agent runs with (this one) and
    what its /v1/info would say (runtimes, power sensors), then the same machine facts script. The
    agent is started per deploy, so nothing runs now; the clock is this host's own."""
    from ..paths import home

    facts.where, facts.reachable, facts.host_key_known = "this machine", True, True
    facts.python = sys.executable
    if live_only:
        facts.python_exists, facts.installed_version = True, facts.host_version
        return
    try:  # a child process, as the agent would be: the runtime imports stay out of this one
        proc = subprocess.run([sys.executable, "-c", LOCAL_INFO_SCRIPT], capture_output=True, text=True,
                              timeout=120)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        info = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        info = None
    facts.python_exists = True  # this very interpreter; installed_version None: no testbed_agent in it
    if info is not None:
        facts.installed_version = info.get("agent_version")
        facts.runtimes_installed = info.get("runtimes") or {}
        facts.info = info
    agent_home = home() / "local-agent"  # LocalTransport's store is in here
    try:
        out = subprocess.run(["sh", "-c", FACTS_SCRIPT % {"home": shlex.quote(str(agent_home))}],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    _parse_machine_facts(out, facts)


def _machine_facts(transport: SshTransport, facts: BoardFacts) -> None:
    code, out = transport.exec(FACTS_SCRIPT % {"home": shlex.quote(transport.agent_home)})
    _parse_machine_facts(out, facts)
    facts.clock_skew_s, facts.clock_uncertainty_s = _clock_skew(transport)


def _parse_machine_facts(out: str, facts: BoardFacts) -> None:
    """FACTS_SCRIPT's key=value lines into ``facts``."""
    temps: dict[str, float] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key == "governor":
            facts.governors = value.split() or None
        elif key == "temp":
            zone, _, milli = value.rpartition(":")
            try:
                temps[f"{zone}" if zone not in temps else f"{zone}-{len(temps)}"] = int(milli) / 1000.0
            except ValueError:
                pass
        elif key == "disk":
            path, _, kib = value.rpartition(":")
            facts.disk_path = path
            facts.disk_free_bytes = int(kib) * 1024 if kib.strip().isdigit() else None
        elif key == "hostname":
            facts.hostname = value.strip() or None
        elif key == "machine":
            facts.machine = value.strip() or None
    facts.temperatures_c = temps or None


def _clock_skew(transport: SshTransport) -> tuple[float | None, float | None]:
    """board clock - host clock, from the quickest of three ``date`` round trips."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        t0 = time.time()
        code, out = transport.exec("date +%s.%N")
        t1 = time.time()
        whole, _, frac = out.strip().partition(".")
        try:  # busybox date prints a literal %N
            board = float(whole + ("." + frac if frac.isdigit() else ""))
        except ValueError:
            return None, None
        half = (t1 - t0) / 2
        if best is None or half < best[1]:
            best = (board - (t0 + half), half)
    return best if best is not None else (None, None)
