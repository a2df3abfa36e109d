"""Device profiles: ``profiles/<id>.yaml``, validated strictly (a typo is an error naming file and key).

Every key is documented in ``profiles/README.md`` with an example.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError
from .paths import repo_root


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SshSettings(_Strict):
    """How to reach the board. Anything left out comes from ``~/.ssh/config`` for ``host``."""

    host: str  # hostname, IP address or a Host alias from ~/.ssh/config
    user: Optional[str] = None  # login user; default from ~/.ssh/config, else the local user
    port: Optional[int] = Field(default=None, ge=1, le=65535)  # default from ~/.ssh/config, else 22
    key_file: Optional[str] = None  # private key; default from ~/.ssh/config IdentityFile, else ssh-agent/default keys
    known_hosts: str = "~/.ssh/known_hosts"  # host keys checked against this file
    trust_on_first_use: bool = False  # accept and save an unknown host key (explicit opt-in)
    connect_timeout_s: float = Field(default=10.0, gt=0)  # TCP + SSH handshake timeout
    keepalive_s: int = Field(default=15, ge=0)  # SSH keepalive interval; 0 = off


class AgentSettings(_Strict):
    """Where and how the device agent runs on the board."""

    python: str = "python3"  # interpreter with testbed (agent) installed, e.g. ~/testbed-agent/venv/bin/python
    port: int = Field(default=8765, ge=0, le=65535)  # agent port on the board's 127.0.0.1 (0 = any free port)
    home: str = "~/.testbed-agent"  # agent state on the board: store/, token, agent.json, agent.log
    start_timeout_s: float = Field(default=60.0, gt=0)  # how long to wait for a started agent to answer


class MeasureSettings(_Strict):
    """Measurement defaults for this board (command-line options override them)."""

    warmup: int = Field(default=10, ge=0)  # untimed inferences before timing
    iterations: int = Field(default=50, ge=1)  # timed inferences
    timeout_s: float = Field(default=300.0, gt=0)  # a run taking longer is killed and reported


class PowerSettings(_Strict):
    """Power/energy measurement on the board (sensors run on the agent; see docs/power.md)."""

    sensors: list[str] = ["none"]  # in order of preference; the first one the board has is used
    rate_hz: float = Field(default=20.0, gt=0, le=1000)  # sampling rate during idle and timed windows
    idle_window_s: float = Field(default=2.0, ge=0, le=600)  # idle baseline before the timed runs
    min_active_s: float = Field(default=2.0, ge=0)  # time inferences at least this long for a usable window
    settings: dict[str, dict] = {}  # per-sensor settings, e.g. {estimate: {idle_w: 3.0, max_w: 7.0}}


class Profile(_Strict):
    """A board: what it is, how to reach it, what it runs."""

    id: str  # must match the file name: profiles/<id>.yaml
    description: str = ""  # human description (SoC, cores, OS)
    arch: Optional[str] = None  # uname -m of the board (aarch64, x86_64), for wheels and reports
    transport: Literal["local", "ssh"]  # registry name of the transport (transports/registry.py)
    ssh: Optional[SshSettings] = None  # required when transport is ssh
    agent: AgentSettings = AgentSettings()
    runtimes: list[Literal["litert", "onnxruntime", "executorch"]] = ["litert", "onnxruntime", "executorch"]
    threads: Optional[int] = Field(default=None, ge=1)  # inference threads; null = runtime default
    measure: MeasureSettings = MeasureSettings()
    power: PowerSettings = PowerSettings()
    tags: list[str] = []  # free labels for plans (e.g. arm64, lab-a)

    @model_validator(mode="after")
    def _ssh_needs_settings(self) -> "Profile":
        if self.transport == "ssh" and self.ssh is None:
            raise ValueError("transport 'ssh' needs an 'ssh:' section with at least 'host'")
        return self


def profile_dirs() -> list[Path]:
    """Where ``--device NAME`` is looked up, first hit wins."""
    dirs = []
    if os.environ.get("TESTBED_PROFILES"):
        dirs += [Path(p) for p in os.environ["TESTBED_PROFILES"].split(os.pathsep) if p]
    dirs += [Path.cwd() / "profiles", repo_root() / "profiles"]
    return dirs


def find(device: str) -> Path:
    """Path of the profile for ``device`` (an id or a path to a YAML file)."""
    as_path = Path(device).expanduser()
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    for folder in profile_dirs():
        candidate = folder / f"{device}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown device '{device}': no {device}.yaml in "
                      f"{', '.join(str(d) for d in profile_dirs())}; run `testbed devices` to list profiles")


def load(device: str) -> Profile:
    """Load and validate a profile; any problem is a ConfigError naming file and key."""
    path = find(device)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{path}: key '{key}': {msg}") from exc
    if path.stem != profile.id:
        raise ConfigError(f"{path}: key 'id': '{profile.id}' does not match the file name '{path.stem}'")
    return profile


def all_profiles() -> list[tuple[Path, Profile | ConfigError]]:
    """Every profile found, each loaded or with its error (for `testbed devices`)."""
    seen: dict[str, tuple[Path, Profile | ConfigError]] = {}
    for folder in profile_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if path.stem in seen:
                continue
            try:
                seen[path.stem] = (path, load(str(path)))
            except ConfigError as exc:
                seen[path.stem] = (path, exc)
    return list(seen.values())
