"""`testbed agent install --device D`: put the agent on a board over SSH, idempotently.

1. connect (the profile's SSH settings, ~/.ssh/config, host-key checking);
2. a venv on the board (``python3 -m venv``; the profile's ``agent.python`` names it);
3. the agent wheel and the profile's runtimes, by the board's own pip, online or from a wheelhouse;
4. a systemd unit where systemd runs, else a plain background process;
5. (re)start the agent when it is not running or runs other code, and wait for ``/v1/health``.

Nothing is done twice: an up-to-date board (same wheel sha256, runtimes importable, agent
running that version) is left alone; a different version is upgraded and the agent restarted.

Here: ``install`` (the order of the steps, steps 1 and 5, the install record), the profile's
wheelhouse, and pointing ``agent.python`` of the profile file at the venv. Steps 2-3 are in
``board_venv.py``, step 4 in ``agent_service.py``; ``InstallOptions``/``InstallReport`` in
``install_options.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import posixpath
import re
import shlex
import time
from pathlib import Path

from .. import profiles as profiles_mod
from ..errors import AgentError, ConfigError, TransportError
from ..profiles import Profile
from ..transports import get as get_transport
from ..transports.capabilities import InstallsAgent, require
from . import wheel as wheel_mod
from .agent_service import UNIT_NAME, install_service, unit_text
from .board_venv import board_state, make_venv, pip_install, venv_dir
from .install_options import InstallOptions, InstallReport, Progress

HEAVY = ("torch", "tensorflow", "tensorflow-cpu", "tf-keras", "jax")


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
        venv = venv_dir(transport)
        report.venv = venv
        python = posixpath.join(venv, "bin", "python")
        report.python = python
        code, out = transport.exec(f"mkdir -p {shlex.quote(home)} && chmod 700 {shlex.quote(home)}")
        if code != 0:
            raise TransportError(f"cannot create agent.home {home} on {profile.id}: {out.strip()}")

        if transport.exec(f"test -x {shlex.quote(python)}")[0] != 0:
            progress(f"creating a venv on {profile.id}")
            make_venv(transport, options.base_python, venv)
            report.actions.append(f"created venv {venv}")
        state = board_state(transport, python)
        report.python_version = state.get("python", "")
        report.previous_version = state.get("agent_version")
        installed = transport.read_json("install.json") or {}
        missing = [r for r in profile.runtimes if not (state["runtimes"].get(r) or {}).get("available")]
        stale_agent = (options.force or state.get("agent_version") != wheel.version
                       or installed.get("wheel_sha256") != wheel.sha256)
        if stale_agent or missing:
            pip_install(transport, profile, options, wheel, python, state, stale_agent, missing, report, progress)
            state = board_state(transport, python)
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

        unit = unit_text(profile, transport)
        report.unit_file = posixpath.join(home, UNIT_NAME)
        transport.write_text(report.unit_file, unit)
        service = install_service(transport, options.service, unit, installed.get("service") or {}, report)
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
