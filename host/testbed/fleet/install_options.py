"""What `testbed agent install` is asked (``InstallOptions``) and what it reports (``InstallReport``),
shared by ``install.py`` and its steps (``board_venv.py``, ``agent_service.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Progress = Callable[[str], None]


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
