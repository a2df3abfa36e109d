"""Device profiles: ``profiles/<id>.yaml``, validated strictly (a typo is an error naming file and key).

Every key is documented in ``profiles/README.md`` with an example.

The schema is a union discriminated on ``transport``: one ``Profile`` subclass per registered
transport, each with the common keys and that transport's own section (``ssh:``, ``adb:``), whose
model the transport plug-in brings (``Transport.Settings``; ``local`` takes none). A section of
another transport is an unknown key; a missing one is an error naming it.

Here: ``Profile`` and its per-transport union, and the loading (``find``, ``load``, ``all_profiles``).
The sections common to every transport (``measure:`` with its presets, ``runtime_settings:``,
``thermal:``, ``power:``) are in ``profile_sections.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, TypeAdapter, ValidationError, create_model, field_validator, model_validator
from typing_extensions import Self

from testbed_agent.runtimes import registry as agent_runtimes

from .errors import ConfigError
from .paths import repo_root
from .profile_sections import (
    EffectiveMeasure,
    MeasureSettings,
    PowerSettings,
    RuntimeSettings,
    ThermalSettings,
    _Strict,
)
from .transports import TRANSPORTS, AgentSettings, TransportSettings
from .transports.adb import AdbSettings
from .transports.ssh_connect import SshSettings

# EffectiveMeasure: engine/request.py imports it from here
__all__ = ["AdbSettings", "AgentSettings", "EffectiveMeasure", "Profile", "SshSettings", "all_profiles", "find",
           "load"]


class Profile(_Strict):
    """A board: what it is, how to reach it, what it runs. ``Profile.model_validate`` returns the
    subclass of the profile's transport (``_variant``), which adds that transport's section."""

    id: str  # must match the file name: profiles/<id>.yaml
    description: str = ""  # human description (SoC, cores, OS)
    arch: str | None = None  # uname -m of the board (aarch64, x86_64), for wheels and reports
    emulated: str | None = None  # how the board is emulated (e.g. qemu TCG): its timings are labelled so
    transport: str  # registry name of the transport (transports/registry.py): local, ssh, adb
    agent: AgentSettings = AgentSettings()
    runtimes: list[str] = ["litert", "onnxruntime", "executorch"]  # registry names of the runtimes to measure with
    threads: int | None = Field(default=None, ge=1)  # inference threads; null = runtime default
    runtime_settings: RuntimeSettings = RuntimeSettings()  # per-runtime settings (threads, XNNPACK, ORT...)
    cpu_affinity: list[int] | None = None  # pin the measuring worker to these CPUs, e.g. [2, 3] (big cores)
    memory_limit_mb: int | None = Field(default=None, ge=32)  # the worker's address-space limit (RLIMIT_AS)
    measure: MeasureSettings = MeasureSettings()
    power: PowerSettings = PowerSettings()
    thermal: ThermalSettings = ThermalSettings()
    tags: list[str] = []  # free labels for plans (e.g. arm64, lab-a)

    @property
    def connection(self) -> TransportSettings | None:
        """The transport's own section (``ssh:``, ``adb:``), None for a transport that takes none."""
        value = getattr(self, _section_field(self.transport), None)
        return value if isinstance(value, TransportSettings) else None

    def with_connection(self, settings: TransportSettings) -> Self:
        """A copy with another transport section (of the same transport)."""
        return self.model_copy(update={_section_field(self.transport): settings})

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, from_attributes: bool | None = None,
                       context: Any | None = None, by_alias: bool | None = None,
                       by_name: bool | None = None) -> Self:
        """On ``Profile`` itself: the union, i.e. the subclass named by ``transport``."""
        if cls is Profile:
            result: Self = _schema().validate_python(obj, strict=strict, from_attributes=from_attributes,
                                                     context=context, by_alias=by_alias, by_name=by_name)
            return result
        return super().model_validate(obj, strict=strict, from_attributes=from_attributes, context=context,
                                      by_alias=by_alias, by_name=by_name)

    @field_validator("runtimes")
    @classmethod
    def _known_runtimes(cls, runtimes: list[str]) -> list[str]:
        for name in runtimes:
            if name not in agent_runtimes.RUNTIMES:
                raise ValueError(agent_runtimes.RUNTIMES.unknown_message(name))
        return runtimes

    @model_validator(mode="after")
    def _affinity_is_cpus(self) -> Profile:
        if self.cpu_affinity is not None and (not self.cpu_affinity or min(self.cpu_affinity) < 0):
            raise ValueError("cpu_affinity must be a non-empty list of CPU numbers (0, 1, ...)")
        return self


def _section_field(transport: str) -> str:
    """The Python attribute of ``transport``'s section (the YAML key is the transport name itself)."""
    return transport.replace("-", "_")


_VARIANTS: dict[type, type[Profile]] = {}  # transport class -> its profile schema


def _variant(name: str) -> type[Profile]:
    """The profile schema of transport ``name``: the common keys, ``transport: <name>`` and its section."""
    plugin = TRANSPORTS.get(name)
    if plugin not in _VARIANTS:
        fields: dict[str, Any] = {"transport": (Literal[name], ...)}
        if plugin.Settings is not None:
            if _section_field(name) in Profile.model_fields:
                raise ConfigError(f"transport {name!r}: its section would hide the profile key {name!r}")
            fields[_section_field(name)] = (plugin.Settings, Field(alias=name))
        _VARIANTS[plugin] = create_model(f"Profile_{_section_field(name)}", __base__=Profile, **fields)
    return _VARIANTS[plugin]


def _schema() -> TypeAdapter[Any]:
    """The union of every registered transport's profile, discriminated on ``transport`` (built again
    when a plug-in registers or leaves)."""
    variants = tuple(_variant(name) for name in TRANSPORTS.names())
    key = tuple(id(v) for v in variants)
    if _SCHEMA.get("key") != key:
        union = Annotated[Union[variants], Field(discriminator="transport")]  # type: ignore[valid-type]  # noqa: UP007
        _SCHEMA.update(key=key, adapter=TypeAdapter(union))
    adapter: TypeAdapter[Any] = _SCHEMA["adapter"]
    return adapter


_SCHEMA: dict[str, Any] = {}


def _explain(err: Any, data: dict) -> tuple[str, str]:
    """(key, message) of a validation error of the union: its first location is the transport's tag."""
    transport = data.get("transport")
    loc = tuple(err["loc"])
    if err["type"] == "union_tag_invalid":
        return "transport", TRANSPORTS.unknown_message(str(transport))
    if err["type"] == "union_tag_not_found":
        return "transport", f"missing; one of: {', '.join(TRANSPORTS.names())}"
    if loc and loc[0] == transport:
        loc = loc[1:]
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        msg = "unknown key"
        if len(loc) == 1 and loc[0] in TRANSPORTS:
            msg += f" (the section of transport '{loc[0]}'; this profile's transport is '{transport}')"
        return key, msg
    if err["type"] == "missing" and len(loc) == 1 and loc[0] == transport:
        return key, f"transport '{transport}' needs an '{transport}:' section"
    return key, err["msg"]


def profile_dirs() -> list[Path]:
    """Where ``--device NAME`` is looked up, first hit wins."""
    dirs = []
    if os.environ.get("TESTBED_PROFILES"):
        dirs += [Path(p) for p in os.environ["TESTBED_PROFILES"].split(os.pathsep) if p]
    dirs += [Path.cwd() / "profiles", repo_root() / "profiles"]
    lab = Path(os.environ.get("TESTBED_HOME") or Path.home() / ".testbed").expanduser() / "lab" / "profiles"
    if lab.is_dir():  # boards of `testbed lab up`
        dirs.append(lab)
    return list(dict.fromkeys(d.resolve() for d in dirs))  # once each (the current folder may be the checkout)


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
        key, msg = _explain(exc.errors()[0], data)
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
