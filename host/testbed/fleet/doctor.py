"""`testbed doctor --device D`: judge a board's facts (``probe.gather``) into one line per check.

A problem is ``fail`` (the board cannot be used as is) or ``warn`` (it can, but measurements may
suffer); every problem carries the command or edit that fixes it. ``evaluate`` is a pure function
of the facts, tested on fixtures (tests/unit/test_doctor.py); the gathering is tested against real
boards of the virtual lab (tests/integration/test_lab.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..profiles import Profile
from ..transports.capabilities import SharesThisMachine, has
from ..transports.ssh_connect import SshSettings
from .install import install_command
from .probe import BoardFacts

HOT_FAIL_C, HOT_WARN_C = 80.0, 70.0
DISK_FAIL_B, DISK_WARN_B = 1 << 30, 2 << 30
SKEW_FAIL_S, SKEW_WARN_S = 5.0, 1.0
GOVERNOR_FIX = "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"


@dataclass
class Finding:
    level: str  # ok | warn | fail
    check: str  # ssh, host-key, agent, runtime:<name>, power, governor, temperature, disk, clock
    message: str
    fix: str | None = None

    @property
    def problem(self) -> bool:
        return self.level != "ok"

    def line(self) -> str:
        tag = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[self.level]
        text = f"{tag} {self.check:<20} {self.message}"
        return text + (f" -> fix: {self.fix}" if self.fix else "")

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(profile: Profile, facts: BoardFacts) -> list[Finding]:
    """One finding per check that could be made, in order; later checks need the earlier ones."""
    out: list[Finding] = []
    here = has(profile.transport, SharesThisMachine)
    if isinstance(profile.connection, SshSettings):
        if not _ssh(profile, facts, out):
            return out
        if not _agent(profile, facts, out):
            return out
    elif here:
        if not _local_agent(facts, out):
            return out
    else:
        out.append(Finding("ok", "transport", f"{profile.transport}: checked when a deploy connects"))
        return out
    _runtimes(profile, facts, out)
    _power(profile, facts, out)
    _governor(facts, out)
    _temperature(facts, out)
    _disk(profile, facts, out)
    if here:
        out.append(Finding("ok", "clock", "this host's own clock"))
    else:
        _clock(facts, out)
    return out


def _local_agent(facts: BoardFacts, out: list[Finding]) -> bool:
    """The local agent is this host's testbed_agent, started per deploy by ``facts.python``."""
    out.append(Finding("ok", "transport", "local: the agent runs on this machine, started per deploy"))
    if facts.installed_version is None:
        out.append(Finding("fail", "agent", f"testbed_agent is not importable by {facts.python}",
                           "install testbed into this environment: make install (or pip install -e .)"))
        return False
    out.append(Finding("ok", "agent", f"{facts.installed_version} importable by {facts.python}"))
    return True


def _ssh(profile: Profile, facts: BoardFacts, out: list[Finding]) -> bool:
    kind = facts.ssh_error_kind
    if kind == "unreachable":
        out.append(Finding("fail", "ssh", facts.ssh_error or "unreachable",
                           f"power the board on and check ssh.host/ssh.port in profile '{profile.id}' "
                           f"(try `ssh {profile.connection.where() if profile.connection else ''}` by hand)"))
        return False
    if kind == "hostkey-unknown":
        fp = f" ({facts.host_key_fingerprint})" if facts.host_key_fingerprint else ""
        out.append(Finding("fail", "host-key", f"unknown host key of {facts.where}{fp}: not in {facts.known_hosts}",
                           f"verify the fingerprint on the board (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
                           f"then {facts.keyscan} (or set ssh.trust_on_first_use: true once)"))
        return False
    if kind == "hostkey-changed":
        out.append(Finding("fail", "host-key", f"host key of {facts.where} does NOT match {facts.known_hosts} "
                           "(re-flashed board, or an attack)",
                           f"if the board was re-flashed: ssh-keygen -f {facts.known_hosts} -R "
                           f"'{facts.known_hosts_name}' then `testbed doctor --device {profile.id}` again"))
        return False
    if kind == "auth":
        out.append(Finding("ok", "host-key", f"known ({facts.known_hosts})"))
        out.append(Finding("fail", "ssh-login", facts.ssh_error or "login refused",
                           f"check ssh.user / ssh.key_file in profile '{profile.id}', or install your key: "
                           f"ssh-copy-id {profile.connection.where() if profile.connection else ''}"))
        return False
    if kind == "other":
        out.append(Finding("fail", "ssh", facts.ssh_error or "the connection failed",
                           "retry; if it persists check the board's sshd and network"))
        return False
    took = f" in {facts.ssh_s:.2f} s" if facts.ssh_s is not None else ""
    out.append(Finding("ok", "ssh", f"reachable: {facts.where}{took}"))
    out.append(Finding("ok", "host-key", f"known ({facts.known_hosts})"))
    return True


def _agent(profile: Profile, facts: BoardFacts, out: list[Finding]) -> bool:
    install = install_command(profile)
    if not facts.python_exists:
        out.append(Finding("fail", "agent", f"not installed: {facts.python} does not run on the board", install))
        return False
    if facts.installed_version is None:
        out.append(Finding("fail", "agent", f"not installed: testbed_agent is not importable by {facts.python}",
                           install))
        return False
    if facts.installed_version != facts.host_version:
        out.append(Finding("fail", "agent", f"installed version {facts.installed_version} differs from this "
                           f"host's {facts.host_version}", f"{install} (upgrades it and restarts the agent)"))
    if not facts.running:
        out.append(Finding("fail", "agent", f"not running (installed {facts.installed_version})",
                           f"testbed agent start --device {profile.id} (a deploy also starts it)"))
        return True
    if facts.health_error:
        out.append(Finding("fail", "agent", f"process {facts.running_pid} runs but does not answer: "
                           f"{facts.health_error}", f"testbed agent restart --device {profile.id} "
                           "(its log: agent.home/agent.log on the board)"))
        return True
    if facts.running_version != facts.installed_version:
        out.append(Finding("fail", "agent", f"running version {facts.running_version} is not the installed "
                           f"{facts.installed_version}", f"testbed agent restart --device {profile.id}"))
        return True
    out.append(Finding("ok", "agent", f"{facts.running_version} running (pid {facts.running_pid})"))
    return True


def _runtimes(profile: Profile, facts: BoardFacts, out: list[Finding]) -> None:
    served = (facts.info or {}).get("runtimes") or {}
    for name in profile.runtimes:
        fresh = facts.runtimes_installed.get(name)
        seen = served.get(name)
        probes = [p for p in (seen, fresh) if p is not None]
        if not probes:
            out.append(Finding("fail", f"runtime:{name}", "unknown to the board's agent",
                               f"{install_command(profile)} (the agent is older than this host)"))
            continue
        bad = next((p for p in probes if not p.get("available")), None)
        if bad is not None and has(profile.transport, SharesThisMachine):
            out.append(Finding("fail", f"runtime:{name}", f"not importable by {facts.python}: "
                               f"{bad.get('reason') or 'not installed'}",
                               f"{facts.python} -m pip install 'testbed[{name}]'"))
        elif bad is not None:
            where = "" if facts.info is None else " (from /v1/info)" if bad is seen else " (in its venv)"
            install = f"{install_command(profile)} (installs the profile's runtimes)"
            out.append(Finding("fail", f"runtime:{name}", f"not importable on the board{where}: "
                               f"{bad.get('reason') or 'not installed'}", install))
        else:
            version = (seen or fresh or {}).get("version")
            out.append(Finding("ok", f"runtime:{name}", f"importable ({version or 'version unknown'})"))


def _power(profile: Profile, facts: BoardFacts, out: list[Finding]) -> None:
    wanted = [s for s in profile.power.sensors if s != "none"]
    if not wanted:
        out.append(Finding("ok", "power", "no sensor configured (power.sensors: [none])"))
        return
    probes = (facts.info or {}).get("power")
    if probes is None:
        return  # no running agent to ask
    usable = [s for s in wanted if (probes.get(s) or {}).get("available")]
    if not usable:
        reasons = "; ".join(f"{s}: {(probes.get(s) or {}).get('reason') or 'unknown sensor'}" for s in wanted)
        out.append(Finding("fail", "power", f"none of the profile's sensors is available ({reasons})",
                           "connect/enable the sensor (docs/power.md), or set power.sensors: [estimate] or "
                           f"[none] in profile '{profile.id}'"))
    elif usable[0] != wanted[0]:
        reason = (probes.get(wanted[0]) or {}).get("reason") or "unavailable"
        out.append(Finding("warn", "power", f"preferred sensor {wanted[0]} unavailable ({reason}); using {usable[0]}",
                           f"connect {wanted[0]}, or list {usable[0]} first in power.sensors"))
    else:
        out.append(Finding("ok", "power", f"sensor {usable[0]} available"))


def _governor(facts: BoardFacts, out: list[Finding]) -> None:
    if not facts.governors:
        out.append(Finding("ok", "governor", "unknown (no cpufreq on the board)"))
    elif set(facts.governors) != {"performance"}:
        out.append(Finding("warn", "governor", f"{', '.join(facts.governors)}: latency depends on the "
                           "frequency the governor picks", GOVERNOR_FIX))
    else:
        out.append(Finding("ok", "governor", "performance"))


def _temperature(facts: BoardFacts, out: list[Finding]) -> None:
    if not facts.temperatures_c:
        out.append(Finding("ok", "temperature", "unknown (no thermal zones)"))
        return
    zone, hottest = max(facts.temperatures_c.items(), key=lambda kv: kv[1])
    fix = "let it cool down, add a heatsink or fan (a Pi: vcgencmd get_throttled shows throttling)"
    if hottest >= HOT_FAIL_C:
        out.append(Finding("fail", "temperature", f"{hottest:.0f} °C ({zone}): the SoC throttles", fix))
    elif hottest >= HOT_WARN_C:
        out.append(Finding("warn", "temperature", f"{hottest:.0f} °C ({zone}): close to throttling", fix))
    else:
        out.append(Finding("ok", "temperature", f"{hottest:.0f} °C ({zone})"))


def _disk(profile: Profile, facts: BoardFacts, out: list[Finding]) -> None:
    if facts.disk_free_bytes is None:
        out.append(Finding("ok", "disk", "free space unknown"))
        return
    free = facts.disk_free_bytes
    text = f"{free / (1 << 30):.1f} GiB free on {facts.disk_path}"
    fix = (f"free space on the board's {facts.disk_path} (stored artifacts in agent.home/store/artifacts "
           "can be deleted: they are sent again when needed)")
    if free < DISK_FAIL_B:
        out.append(Finding("fail", "disk", text, fix))
    elif free < DISK_WARN_B:
        out.append(Finding("warn", "disk", text, fix))
    else:
        out.append(Finding("ok", "disk", text))


def _clock(facts: BoardFacts, out: list[Finding]) -> None:
    if facts.clock_skew_s is None:
        out.append(Finding("ok", "clock", "skew unknown"))
        return
    skew = abs(facts.clock_skew_s) - (facts.clock_uncertainty_s or 0.0)
    text = f"board clock {facts.clock_skew_s:+.2f} s from this host"
    fix = "sync the board's clock: sudo timedatectl set-ntp true (or sudo date -s @<host's date +%s>)"
    if skew > SKEW_FAIL_S:
        out.append(Finding("fail", "clock", text + " (result timestamps will be wrong)", fix))
    elif skew > SKEW_WARN_S:
        out.append(Finding("warn", "clock", text, fix))
    else:
        out.append(Finding("ok", "clock", text))


def has_problems(findings: list[Finding], strict: bool = False) -> bool:
    return any(f.level == "fail" or (strict and f.level == "warn") for f in findings)
