"""`testbed agent install|start|stop|restart|status --device D`: the agent on a board, over SSH."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from ..errors import ConfigError, TestbedError
from ._common import err_console, fail

if TYPE_CHECKING:
    from ..fleet.install_options import InstallReport
    from ..profiles import Profile
    from ..transports.capabilities import ManagesAgent


@click.group()
def agent() -> None:
    """Install and control the device agent on a board (over SSH)."""


def _agent_profile(device: str) -> tuple[Path, Profile]:
    """The profile of ``device``, whose transport runs an agent on the board (``ManagesAgent``)."""
    from .. import profiles
    from ..transports import TRANSPORTS
    from ..transports.capabilities import ManagesAgent, has

    path = profiles.find(device)
    profile = profiles.load(str(path))
    if not has(profile.transport, ManagesAgent):
        able = ", ".join(f"{name} ({cls.about})" if cls.about else name
                         for name, cls in TRANSPORTS.items() if has(name, ManagesAgent))
        raise ConfigError(f"profile '{profile.id}' uses transport '{profile.transport}' "
                          f"({TRANSPORTS.get(profile.transport).about or 'no agent on the board'}), which runs no "
                          f"agent on the board to install or control; `testbed agent` is for: {able}")
    return path, profile


@agent.command()
@click.option("--device", "-d", required=True, help="Profile id (profiles/<id>.yaml) or a path to one.")
@click.option("--wheelhouse", type=click.Path(file_okay=False, path_type=Path),
              help="Offline board: download the wheels for the board here (on this host), send them, and "
                   "install with --no-index. A filled wheelhouse needs no network.")
@click.option("--python", "base_python", default="python3", show_default=True,
              help="Interpreter on the board that creates the venv.")
@click.option("--force", is_flag=True, help="Reinstall the agent even when it is up to date.")
@click.option("--service", type=click.Choice(["auto", "systemd", "process"]), default="auto", show_default=True,
              help="How the agent runs: a systemd unit where systemd runs (auto), or a background process.")
@click.option("--no-profile-update", is_flag=True, help="Do not point the profile's agent.python at the venv.")
@click.option("--json", "as_json", is_flag=True, help="Print the install report as JSON.")
def install(device: str, wheelhouse: Path | None, base_python: str, force: bool, service: str,
            no_profile_update: bool, as_json: bool) -> None:
    """Install (or upgrade) the agent and the profile's runtimes on DEVICE, start it, wait for /v1/health."""
    from ..fleet.install import install as run_install
    from ..fleet.install_options import InstallOptions

    try:
        path, profile = _agent_profile(device)
        opts = InstallOptions(wheelhouse=wheelhouse.resolve() if wheelhouse else None, base_python=base_python,
                              force=force, service=service, update_profile=not no_profile_update)
        with Console(stderr=True, highlight=False).status("starting") as status:
            report = run_install(profile, opts, progress=lambda m: status.update(m), profile_path=path)
    except TestbedError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for action in report.actions or ["nothing to do: up to date"]:
        click.echo(f"{report.device}: {action}")
    runtimes = ", ".join(f"{k} {v.get('version') or ''}".strip() for k, v in report.runtimes.items())
    click.echo(f"{report.device}: agent {report.version} running (pid {report.agent_pid}, {report.service}); "
               f"Python {report.python_version} in {report.venv}; runtimes: {runtimes or 'none'}")
    click.echo(f"{report.device}: {service_line(report)}")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")


def service_line(report: InstallReport) -> str:
    """How the agent runs now, as it is (a systemd unit only when one was installed and enabled)."""
    if report.unit_path:
        return f"{report.service} unit {report.unit_path}: enabled, restarted on failure and at boot"
    why = report.service_note or "no systemd unit"
    return (f"runs as a background process ({why}): not restarted after a crash or a reboot (a deploy or "
            f"`testbed agent start --device {report.device}` starts it); unit text for systemd kept at "
            f"{report.unit_file}")


def _with_transport(device: str, action: Callable[[Profile, ManagesAgent], None]) -> None:
    from ..transports import get
    from ..transports.capabilities import ManagesAgent, require

    try:
        _, profile = _agent_profile(device)
        with get(profile.transport)(profile) as transport:
            managed: ManagesAgent = require(transport, ManagesAgent, "`testbed agent`")
            managed.connect()
            return action(profile, managed)
    except TestbedError as exc:
        fail(exc)


@agent.command()
@click.option("--device", "-d", required=True, help="Profile id or a path to one.")
def start(device: str) -> None:
    """Start the agent on DEVICE when it is not running (and wait for /v1/health)."""
    def act(profile: Profile, transport: ManagesAgent) -> None:
        before = transport.running_agent()
        transport.open()
        state = transport.running_agent() or {}
        verb = "already running" if before else "started"
        click.echo(f"{profile.id}: agent {state.get('version')} {verb} (pid {state.get('pid')})")
    _with_transport(device, act)


@agent.command()
@click.option("--device", "-d", required=True, help="Profile id or a path to one.")
def stop(device: str) -> None:
    """Stop the agent on DEVICE."""
    def act(profile: Profile, transport: ManagesAgent) -> None:
        click.echo(f"{profile.id}: agent {'stopped' if transport.stop_agent() else 'was not running'}")
    _with_transport(device, act)


@agent.command()
@click.option("--device", "-d", required=True, help="Profile id or a path to one.")
def restart(device: str) -> None:
    """Stop and start the agent on DEVICE (after a manual change on the board)."""
    def act(profile: Profile, transport: ManagesAgent) -> None:
        transport.stop_agent()
        transport.open()
        state = transport.running_agent() or {}
        click.echo(f"{profile.id}: agent {state.get('version')} restarted (pid {state.get('pid')})")
    _with_transport(device, act)


@agent.command()
@click.option("--device", "-d", required=True, help="Profile id or a path to one.")
def status(device: str) -> None:
    """Whether the agent runs on DEVICE, its pid and version."""
    def act(profile: Profile, transport: ManagesAgent) -> None:
        state = transport.running_agent()
        installed = transport.read_json("install.json") or {}
        how = (installed.get("service") or {}).get("kind", "not installed by `testbed agent install`")
        if state is None:
            click.echo(f"{profile.id}: agent not running (installed {installed.get('version', '?')}, {how})")
            raise SystemExit(1)
        click.echo(f"{profile.id}: agent {state.get('version')} running (pid {state.get('pid')}, {how})")
    _with_transport(device, act)
