"""`testbed agent install --device D`: put the agent on a board over SSH, idempotently.

1. connect (the profile's SSH settings, ~/.ssh/config, host-key checking);
2. a venv on the board (``python3 -m venv``; the profile's ``agent.python`` names it);
3. the agent wheel (built on the host, only ``testbed_agent``) and the profile's runtimes, by the
   board's own pip (so it gets wheels for its own architecture) — from its package index, or with
   ``--wheelhouse DIR`` offline: the host downloads the wheels for the board's tags into DIR and
   sends them, the board installs with ``--no-index --find-links``;
4. a systemd unit (system unit when logging in as root, else a user unit) where systemd runs,
   else a plain background process; the unit file is written to the agent's home either way;
5. (re)start the agent when it is not running or runs other code, and wait for ``/v1/health``.

Nothing is done twice: an up-to-date board (same wheel sha256, runtimes importable, agent
running that version) is left alone; a different version is upgraded and the agent restarted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import posixpath
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import profiles as profiles_mod
from ..errors import AgentError, ConfigError, TransportError
from ..profiles import Profile
from ..transports import get as get_transport
from ..transports.capabilities import InstallsAgent, require
from . import wheel as wheel_mod
from . import wheelhouse as wheelhouse_mod

Progress = Callable[[str], None]
DEFAULT_VENV = "~/testbed-agent/venv"
UNIT_NAME = "testbed-agent.service"
PIP_TIMEOUT_S = 1800.0
HEAVY = ("torch", "tensorflow", "tensorflow-cpu", "tf-keras", "jax")

# Run with the venv's python: what is installed (the agent's own probes when it is there).
STATE_SCRIPT = r"""
import json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable, "agent_version": None, "runtimes": {}}
try:
    import testbed_agent
    out["agent_version"] = testbed_agent.__version__
    from testbed_agent.info import runtime_probes
    out["runtimes"] = {k: v.to_json() for k, v in runtime_probes().items()}
except Exception as exc:
    out["error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    import importlib.metadata as md
    out["packages"] = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
except Exception:
    out["packages"] = []
print(json.dumps(out))
"""


@dataclass
class InstallOptions:
    wheelhouse: Path | None = None  # offline board: wheels from here (filled by `pip download` on the host)
    base_python: str = "python3"  # interpreter on the board that makes the venv
    force: bool = False  # reinstall the agent even when it is up to date
    service: str = "auto"  # auto | systemd | process
    update_profile: bool = True  # point agent.python at the venv when it does not


@dataclass
class InstallReport:
    device: str
    venv: str = ""
    python: str = ""  # the venv's interpreter on the board
    python_version: str = ""
    version: str = ""  # the agent version now installed
    previous_version: str | None = None
    actions: list[str] = field(default_factory=list)  # what was done, in order ("nothing to do" when empty)
    runtimes: dict = field(default_factory=dict)  # runtime -> probe (available, version, reason)
    packages: list[str] = field(default_factory=list)  # distributions in the board's venv
    service: str = ""  # systemd-system | systemd-user | process
    service_note: str = ""  # why a background process (no systemd on the board, systemctl failed, asked)
    unit_file: str = ""  # the unit's text, kept in agent.home whatever runs the agent
    unit_path: str = ""  # the installed, enabled systemd unit; "" when the agent runs as a process
    wheelhouse: str = ""  # the host folder the wheels came from (offline board); "" = the board's pip
    agent_pid: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def install(profile: Profile, options: InstallOptions, progress: Progress = lambda m: None,
            profile_path: Path | None = None) -> InstallReport:
    """Install or upgrade the agent on the board of ``profile`` (loaded from ``profile_path``)."""
    transport: InstallsAgent = require(get_transport(profile.transport)(profile), InstallsAgent,
                                       "`testbed agent install` (the local agent runs from this install)")
    report = InstallReport(device=profile.id)
    if options.wheelhouse is None and profile.agent.wheelhouse:
        options = dataclasses.replace(options, wheelhouse=profile_wheelhouse(profile, profile_path))
    report.wheelhouse = str(options.wheelhouse or "")
    wheel = wheel_mod.build()
    with contextlib.closing(transport):
        progress(f"connecting to {profile.id}")
        transport.connect()
        home = transport.agent_home
        venv = _venv_dir(transport)
        report.venv = venv
        python = posixpath.join(venv, "bin", "python")
        report.python = python
        code, out = transport.exec(f"mkdir -p {shlex.quote(home)} && chmod 700 {shlex.quote(home)}")
        if code != 0:
            raise TransportError(f"cannot create agent.home {home} on {profile.id}: {out.strip()}")

        if transport.exec(f"test -x {shlex.quote(python)}")[0] != 0:
            progress(f"creating a venv on {profile.id}")
            _make_venv(transport, options.base_python, venv)
            report.actions.append(f"created venv {venv}")
        state = _board_state(transport, python)
        report.python_version = state.get("python", "")
        report.previous_version = state.get("agent_version")
        installed = transport.read_json("install.json") or {}
        missing = [r for r in profile.runtimes if not (state["runtimes"].get(r) or {}).get("available")]
        stale_agent = (options.force or state.get("agent_version") != wheel.version
                       or installed.get("wheel_sha256") != wheel.sha256)
        if stale_agent or missing:
            _pip_install(transport, profile, options, wheel, python, state, stale_agent, missing, report, progress)
            state = _board_state(transport, python)
            if state.get("agent_version") != wheel.version:
                raise AgentError(f"the agent did not install on {profile.id}: "
                                 f"{state.get('error') or 'testbed_agent not importable'}")
        report.version = wheel.version
        report.runtimes = {r: state["runtimes"].get(r, {"available": False, "reason": "unknown runtime"})
                           for r in profile.runtimes}
        report.packages = state.get("packages", [])
        still_missing = [r for r in profile.runtimes if not report.runtimes[r].get("available")]
        if still_missing:
            reasons = "; ".join(f"{r}: {report.runtimes[r].get('reason') or 'not importable'}" for r in still_missing)
            raise AgentError(f"runtime(s) {', '.join(still_missing)} not importable on {profile.id} after "
                             f"install ({reasons})")
        heavy = sorted(set(report.packages) & set(HEAVY))
        if heavy and "executorch" not in profile.runtimes:
            report.warnings.append(f"the board's venv holds {', '.join(heavy)} (not needed by the agent)")

        unit = _unit_text(profile, transport)
        report.unit_file = posixpath.join(home, UNIT_NAME)
        transport.write_text(report.unit_file, unit)
        service = _install_service(transport, options.service, unit, installed.get("service") or {}, report)
        report.service = service["kind"]
        report.unit_path = service.get("path", "")
        report.service_note = service.get("note", "")
        record = {"version": wheel.version, "wheel_sha256": wheel.sha256, "venv": venv, "python": python,
                  "runtimes": profile.runtimes, "service": service, "installed_at": time.time()}
        if {k: v for k, v in record.items() if k != "installed_at"} != \
                {k: v for k, v in installed.items() if k != "installed_at"}:
            transport.write_text(posixpath.join(home, "install.json"), json.dumps(record, indent=2))

        running = transport.running_agent()
        restart = running is not None and (running.get("version") != wheel.version or bool(report.actions)
                                           or service.get("kind") != (installed.get("service") or {}).get("kind"))
        if restart and running is not None:  # (restart implies a running agent)
            progress(f"restarting the agent on {profile.id}")
            transport.stop_agent()
            report.actions.append(f"stopped agent {running.get('version')} (pid {running.get('pid')})")
        if running is None or restart:
            progress(f"starting the agent on {profile.id}")
        client = transport.open()  # starts it when not running, waits for /v1/health
        health = client.health()
        if health.get("version") != wheel.version:
            raise AgentError(f"the agent on {profile.id} answers version {health.get('version')}, "
                             f"expected {wheel.version}; `testbed agent restart --device {profile.id}`")
        now = transport.running_agent() or {}
        report.agent_pid = now.get("pid")
        if running is None or restart:
            report.actions.append(f"started agent {wheel.version} (pid {report.agent_pid}, {report.service})")

    if options.update_profile and transport.expand(profile.agent.python) != python:
        path = profile_path or profiles_mod.find(profile.id)
        _set_profile_python(path, python)
        report.actions.append(f"profile {path}: agent.python set to {python}")
    return report


def profile_wheelhouse(profile: Profile, profile_path: Path | None = None) -> Path | None:
    """``agent.wheelhouse`` of the profile as a host path (``~`` expanded; relative to the profile file)."""
    if not profile.agent.wheelhouse:
        return None
    path = Path(profile.agent.wheelhouse).expanduser()
    if not path.is_absolute() and profile_path is not None:
        path = profile_path.parent / path
    return path.resolve()


def install_command(profile: Profile) -> str:
    """The `testbed agent install` line that works for this board (with its wheelhouse when offline)."""
    wheelhouse = profile_wheelhouse(profile)
    return f"testbed agent install --device {profile.id}" + (f" --wheelhouse {wheelhouse}" if wheelhouse else "")


# -- steps --------------------------------------------------------------------------------------
def _venv_dir(transport: InstallsAgent) -> str:
    """The venv named by ``agent.python`` (``<venv>/bin/python``), else ``~/testbed-agent/venv``."""
    python = transport.expand(transport.profile.agent.python)
    parent = posixpath.dirname(python)
    if posixpath.isabs(python) and posixpath.basename(parent) == "bin" and \
            posixpath.basename(python).startswith("python"):
        venv = posixpath.dirname(parent)
        exists = transport.exec(f"test -x {shlex.quote(python)}")[0] == 0
        is_venv = transport.exec(f"test -f {shlex.quote(posixpath.join(venv, 'pyvenv.cfg'))}")[0] == 0
        if is_venv or not exists:
            return venv
    return transport.expand(DEFAULT_VENV)


def _make_venv(transport: InstallsAgent, base_python: str, venv: str) -> None:
    code, out = transport.exec(f"{shlex.quote(base_python)} -c 'import sys; print(sys.version_info >= (3, 10))'")
    if code != 0:
        raise TransportError(f"no '{base_python}' on {transport.profile.id} ({out.strip()[-120:]}); install "
                             "Python >= 3.10 on the board or pass --python PATH")
    if out.strip() != "True":
        raise TransportError(f"'{base_python}' on {transport.profile.id} is older than Python 3.10; "
                             "pass --python PATH to a newer one")
    code, out = transport.exec(f"mkdir -p {shlex.quote(posixpath.dirname(venv))} && "
                               f"{shlex.quote(base_python)} -m venv {shlex.quote(venv)}", timeout_s=300)
    if code != 0:
        last = out.strip().splitlines()[-1] if out.strip() else "no output"
        raise TransportError(f"`{base_python} -m venv {venv}` failed on {transport.profile.id}: {last} "
                             "(Debian/Ubuntu/Raspberry Pi OS: sudo apt install python3-venv)")


def _board_state(transport: InstallsAgent, python: str) -> dict:
    code, out = transport.exec(f"{shlex.quote(python)} - <<'TESTBED_EOF'\n{STATE_SCRIPT}\nTESTBED_EOF", timeout_s=120)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if code != 0 or not lines:
        raise TransportError(f"{python} does not run on {transport.profile.id}: {out.strip()[-200:]}")
    return json.loads(lines[-1])


def _pip_install(transport: InstallsAgent, profile: Profile, options: InstallOptions,  # noqa: PLR0913
                 wheel: wheel_mod.AgentWheel, python: str, state: dict, stale_agent: bool,
                 missing: Sequence[str], report: InstallReport, progress: Progress) -> None:
    home = transport.agent_home
    dist = posixpath.join(home, "dist")
    transport.exec(f"mkdir -p {shlex.quote(dist)}")
    remote_wheel = posixpath.join(dist, wheel.filename)
    progress(f"sending the agent wheel to {profile.id}")
    transport.put(wheel.path, remote_wheel)
    index: list[str] = []
    env = ""
    if options.wheelhouse is not None:
        code, out = transport.exec(
            f"{shlex.quote(python)} - <<'TESTBED_EOF'\n{wheelhouse_mod.TAGS_SCRIPT}\nTESTBED_EOF", timeout_s=120)
        if code != 0:
            raise TransportError(f"cannot read the wheel tags of {python} on {profile.id}: {out.strip()[-200:]}")
        tags = wheelhouse_mod.BoardTags.from_json(out.strip().splitlines()[-1])
        progress(f"pip download for {profile.id} ({tags.implementation}{tags.python_version}, "
                 f"{tags.platforms[0] if tags.platforms else '?'}) into {options.wheelhouse}")
        wheelhouse_mod.download(options.wheelhouse, wheel.requirements_for(profile.runtimes), tags, profile.id)
        remote_wh = posixpath.join(home, "wheelhouse")
        progress(f"sending wheels to {profile.id}")
        sent, nbytes = wheelhouse_mod.push(transport, options.wheelhouse, remote_wh, tags)
        if sent:
            report.actions.append(f"sent {sent} wheels ({nbytes / 1e6:.1f} MB) to {remote_wh}")
        index = ["--no-index", "--find-links", remote_wh]
        env = "PIP_CONFIG_FILE=/dev/null "  # offline: the board's own pip config (index URLs) is ignored
    pip = f"{env}{shlex.quote(python)} -m pip --disable-pip-version-check --no-input install --progress-bar off"
    idx = " ".join(shlex.quote(a) for a in index)
    if stale_agent and state.get("agent_version") is not None:
        # another version, or the same version with other code (a development build): replace the
        # package itself whatever its metadata says, then let pip add what the extras need
        _run_pip(transport, f"{pip} {idx} --no-deps --force-reinstall {shlex.quote(remote_wheel)}", profile)
    extras = wheel.extras_for(profile.runtimes)
    target = remote_wheel + (f"[{','.join(extras)}]" if extras else "")
    progress(f"pip install on {profile.id}: agent {wheel.version}"
             + (f" + {', '.join(extras)}" if extras else ""))
    _run_pip(transport, f"{pip} {idx} {shlex.quote(target)}", profile)
    before = state.get("agent_version")
    if before is None:
        report.actions.append(f"installed agent {wheel.version} with {', '.join(extras) or 'no runtimes'}")
    elif before != wheel.version:
        report.actions.append(f"upgraded agent {before} -> {wheel.version}")
    elif stale_agent:
        report.actions.append(f"reinstalled agent {wheel.version} (its code changed)")
    else:
        report.actions.append(f"installed missing runtime(s): {', '.join(missing)}")


def _run_pip(transport: InstallsAgent, command: str, profile: Profile) -> None:
    code, out = transport.exec(command, timeout_s=PIP_TIMEOUT_S)
    if code != 0:
        errors = [ln for ln in out.splitlines() if ln.startswith("ERROR")] or out.strip().splitlines()[-1:]
        raise TransportError(f"pip install on {profile.id} failed: {' '.join(errors)[:400]} "
                             "(offline board? use --wheelhouse DIR)")


def _unit_text(profile: Profile, transport: InstallsAgent) -> str:
    home = transport.agent_home
    return "\n".join([
        "[Unit]",
        f"Description=testbed device agent (profile {profile.id})",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={home}",
        f"ExecStart={transport.agent_command()}",
        "Restart=on-failure",
        "RestartSec=5",
        f"StandardOutput=append:{posixpath.join(home, 'agent.log')}",
        f"StandardError=append:{posixpath.join(home, 'agent.log')}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def _install_service(transport: InstallsAgent, wanted: str, unit: str, previous: dict,
                     report: InstallReport) -> dict:
    """Install and enable the unit where systemd runs; else (or when it fails) a background process."""
    if wanted == "process":
        return {"kind": "process", "note": "--service process"}
    has_systemd = transport.exec("test -d /run/systemd/system && command -v systemctl")[0] == 0
    if not has_systemd:
        if wanted == "systemd":
            raise TransportError(f"--service systemd: systemd does not run on {transport.profile.id}")
        return {"kind": "process", "note": "no systemd on the board"}
    root = transport.exec("id -u")[1].strip() == "0"
    kind = "systemd-system" if root else "systemd-user"
    path = (f"/etc/systemd/system/{UNIT_NAME}" if root
            else posixpath.join(transport.remote_home, ".config/systemd/user", UNIT_NAME))
    ctl = "systemctl" if root else "systemctl --user"
    transport.exec(f"mkdir -p {shlex.quote(posixpath.dirname(path))}")
    transport.write_text(path, unit)
    code, out = transport.exec(f"{ctl} daemon-reload && {ctl} enable {UNIT_NAME}")
    if code != 0:
        if wanted == "systemd":
            raise TransportError(f"{ctl} enable {UNIT_NAME} failed on {transport.profile.id}: {out.strip()[-200:]}")
        report.warnings.append(f"{ctl} enable failed ({out.strip()[-120:]}); the agent runs as a background "
                               "process (user units need `loginctl enable-linger` on the board)")
        return {"kind": "process", "note": "systemctl failed"}
    if previous.get("kind") != kind:
        report.actions.append(f"installed systemd unit {path}")
    return {"kind": kind, "unit": UNIT_NAME, "path": path}


def _set_profile_python(path: Path, python: str) -> None:
    """Point ``agent.python`` of the profile file at the venv (a line edit that keeps comments);
    the edited file must still load as the same profile with the new value, else ConfigError."""
    import yaml

    lines = path.read_text().splitlines()
    agent_at = next((i for i, ln in enumerate(lines) if re.match(r"^agent:\s*(#.*)?$", ln)), None)
    if agent_at is None:
        lines += ["agent:", f"  python: {python}"]
    else:
        end = next((i for i in range(agent_at + 1, len(lines)) if lines[i].strip()
                    and not lines[i][0].isspace() and not lines[i].lstrip().startswith("#")), len(lines))
        body = [i for i in range(agent_at + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
        indent = re.match(r"^(\s+)", lines[body[0]]).group(1) if body else "  "  # type: ignore[union-attr]
        py_at = next((i for i in body if re.match(r"^\s+python:", lines[i])), None)
        if py_at is None:
            lines.insert(agent_at + 1, f"{indent}python: {python}")
        else:
            comment = re.search(r"\s+#.*$", lines[py_at])
            lines[py_at] = f"{indent}python: {python}" + (comment.group(0) if comment else "")
    text = "\n".join(lines) + "\n"
    data = yaml.safe_load(text)
    try:
        ok = Profile.model_validate(data).agent.python == python
    except Exception:  # noqa: BLE001 - any failure: leave the file alone
        ok = False
    if not ok:
        raise ConfigError(f"{path}: could not set agent.python automatically; set it by hand to {python}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
