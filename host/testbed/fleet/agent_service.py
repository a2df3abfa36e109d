"""Step 4 of `testbed agent install`: what runs the agent. A systemd unit (system unit when logging
in as root, else a user unit) where systemd runs, else a plain background process; the unit file is
written to the agent's home either way."""

from __future__ import annotations

import posixpath
import shlex

from ..errors import TransportError
from ..profiles import Profile
from ..transports.capabilities import InstallsAgent
from .install_options import InstallReport

UNIT_NAME = "testbed-agent.service"


def unit_text(profile: Profile, transport: InstallsAgent) -> str:
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


def install_service(transport: InstallsAgent, wanted: str, unit: str, previous: dict,
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
