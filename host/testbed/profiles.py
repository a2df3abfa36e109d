"""Device profiles: ``profiles/<id>.yaml``, validated strictly (a typo is an error naming file and key).

Every key is documented in ``profiles/README.md`` with an example.

The schema is a union discriminated on ``transport``: one ``Profile`` subclass per registered
transport, each with the common keys and that transport's own section (``ssh:``, ``adb:``), whose
model the transport plug-in brings (``Transport.Settings``; ``local`` takes none). A section of
another transport is an unknown key; a missing one is an error naming it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from testbed_agent.runtimes import registry as agent_runtimes

from .errors import ConfigError
from .paths import repo_root
from .transports import TRANSPORTS, AgentSettings, TransportSettings
from .transports.adb import AdbSettings
from .transports.ssh_connect import SshSettings

__all__ = ["AdbSettings", "AgentSettings", "Profile", "SshSettings", "all_profiles", "find", "load"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Measurement presets (``measure.preset`` in a profile, ``--preset`` on the command line).
#: ``ci_target_pct: None`` = no adaptive stop: stop as soon as both minimums are met.
PRESETS: dict[str, dict[str, Any]] = {
    # A quick look: few runs, the median known to about ±5 %.
    "quick": {"warmup": 5, "warmup_min_s": 0.0, "iterations": 20, "min_s": 0.0, "max_s": 5.0,
              "ci_target_pct": 5.0},
    # The default: warm for 0.2 s, at least 50 runs and 0.5 s, stop when the median is known to ±1 %.
    "default": {"warmup": 10, "warmup_min_s": 0.2, "iterations": 50, "min_s": 0.5, "max_s": 30.0,
                "ci_target_pct": 1.0},
    # MLPerf Inference SingleStream: at least 1024 queries and 60 s, p90 reported, VALID only when
    # both minimums are met (max_s is ours: a query slower than ~1.2 s cannot be VALID here).
    "mlperf": {"warmup": 10, "warmup_min_s": 0.0, "iterations": 1024, "min_s": 60.0,
               "max_s": 1200.0, "ci_target_pct": None},
}
MEASURE_KEYS = ("warmup", "warmup_min_s", "iterations", "min_s", "max_s", "ci_target_pct")


@dataclass(frozen=True)
class EffectiveMeasure:
    """The measurement settings one deploy uses: a preset, the profile's own values over it, the
    command line's over those."""

    preset: str
    warmup: int
    warmup_min_s: float
    iterations: int  # the minimum number of timed runs
    min_s: float
    max_s: float
    ci_target_pct: float | None  # None = stop when the minimums are met
    timeout_s: float  # a run longer than this is killed
    timeout_auto: bool  # True when timeout_s was raised above the profile's to fit max_s

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MeasureSettings(_Strict):
    """Measurement settings for this board: a preset, and any key here overrides the preset's value
    (command-line options override both; ``--preset`` on the command line replaces this section's
    values, except ``timeout_s``)."""

    preset: Literal["quick", "default", "mlperf"] = "default"  # see PRESETS
    warmup: int | None = Field(default=None, ge=0)  # untimed runs first, at least this many...
    warmup_min_s: float | None = Field(default=None, ge=0)  # ...and for at least this long
    iterations: int | None = Field(default=None, ge=1)  # timed runs: at least this many...
    min_s: float | None = Field(default=None, ge=0)  # ...and for at least this long
    max_s: float | None = Field(default=None, gt=0)  # ...and never longer than this
    ci_target_pct: float | None = Field(default=None, ge=0)  # stop once the median's 95 % CI is within ±this %; 0 = off
    timeout_s: float = Field(default=300.0, gt=0)  # a run taking longer is killed and reported

    @model_validator(mode="after")
    def _max_covers_min(self) -> MeasureSettings:
        if self.max_s is not None and self.min_s is not None and self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s:g}) must be >= min_s ({self.min_s:g})")
        return self

    def effective(self, preset: str | None = None, timeout_s: float | None = None,
                  **overrides: Any) -> EffectiveMeasure:
        """Resolve: ``preset`` (None = this section's) -> its values -> this section's own keys
        (only when the preset is this section's) -> ``overrides`` that are not None. A timeout
        from the profile is raised to fit ``max_s``; an explicit ``timeout_s`` must fit it."""
        name = preset or self.preset
        if name not in PRESETS:
            raise ConfigError(f"unknown measurement preset '{name}'; presets: {', '.join(PRESETS)}")
        values = dict(PRESETS[name])
        if name == self.preset:
            values.update({k: getattr(self, k) for k in MEASURE_KEYS if getattr(self, k) is not None})
        unknown = sorted(set(overrides) - set(MEASURE_KEYS))
        if unknown:
            raise ConfigError(f"unknown measure option(s): {', '.join(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["ci_target_pct"] is not None and values["ci_target_pct"] <= 0:
            values["ci_target_pct"] = None  # 0 = off
        if values["max_s"] < values["min_s"]:
            raise ConfigError(f"measure: max_s ({values['max_s']:g}) must be >= min_s "
                              f"({values['min_s']:g})")
        needed = values["max_s"] + max(60.0, 0.25 * values["max_s"]) + 60.0
        if timeout_s is not None:
            if timeout_s <= values["max_s"]:
                raise ConfigError(f"--timeout {timeout_s:g} s must be longer than the runs' max_s "
                                  f"({values['max_s']:g} s, preset {name})")
            return EffectiveMeasure(preset=name, timeout_s=timeout_s, timeout_auto=False, **values)
        return EffectiveMeasure(preset=name, timeout_s=max(self.timeout_s, needed),
                                timeout_auto=needed > self.timeout_s, **values)


class _RuntimeSettingsBase(_Strict):
    """Per-runtime settings, one section per registered runtime that has any (the section is the
    runtime plug-in's ``Settings`` dataclass, validated here strictly); every one applied is stored
    in the result's ``settings``."""

    def section(self, runtime: str) -> dict[str, Any]:
        """``runtime``'s section as set in the profile (None values left out)."""
        value = getattr(self, _field(runtime), None)
        return {} if value is None else {k: v for k, v in asdict(value).items() if v is not None}

    def for_runtime(self, runtime: str) -> tuple[int | None, dict[str, Any]]:
        """(thread count override or None, the agent's ``runtime_settings`` for ``runtime``): a
        runtime that stands in for another (``settings_from``) takes that one's thread count only."""
        plugin = agent_runtimes.get(runtime)
        owner = agent_runtimes.get(plugin.settings_from) if plugin.settings_from else plugin
        values = self.section(owner.name)
        threads = values.pop(owner.threads_setting, None)
        return threads, values if owner is plugin else {}


def _field(runtime: str) -> str:
    """The Python attribute of ``runtime``'s section (the YAML key is the runtime name itself)."""
    return runtime.replace("-", "_")


def _runtime_settings_model() -> type[_RuntimeSettingsBase]:
    """The ``runtime_settings`` schema: a section per registered runtime with ``Settings``."""
    fields: dict[str, Any] = {
        _field(name): (plugin.Settings, Field(default_factory=plugin.Settings, alias=name))
        for name, plugin in agent_runtimes.RUNTIMES.items() if plugin.Settings is not None}
    return create_model("RuntimeSettings", __base__=_RuntimeSettingsBase, **fields)


if TYPE_CHECKING:
    RuntimeSettings = _RuntimeSettingsBase
else:
    RuntimeSettings = _runtime_settings_model()


class ThermalSettings(_Strict):
    """Board temperature: wait before each run until the CPU is cooler than this."""

    cooldown_below_c: float | None = Field(default=None, gt=0, lt=150)  # null = no cooldown
    cooldown_timeout_s: float = Field(default=120.0, ge=0)  # give up waiting after this (the run goes on, noted)


class PowerSettings(_Strict):
    """Power/energy measurement on the board (sensors run on the agent; see docs/power.md)."""

    sensors: list[str] = ["none"]  # in order of preference; the first one the board has is used
    rate_hz: float = Field(default=20.0, gt=0, le=1000)  # sampling rate during idle and timed windows
    idle_window_s: float = Field(default=2.0, ge=0, le=600)  # idle baseline before the timed runs
    # the agent reuses a measured idle baseline this long (same sensor settings); 0 = an idle window every run
    idle_valid_s: float = Field(default=300.0, ge=0, le=86400)
    min_active_s: float = Field(default=2.0, ge=0)  # time inferences at least this long for a usable window
    # auto: the idle window and min_active_s only with a sensor that measures (an estimate is then
    # reported as not sampled, with the reason); always: sample an estimate too (--power-windows)
    windows: Literal["auto", "always"] = "auto"
    settings: dict[str, dict] = {}  # per-sensor settings, e.g. {estimate: {idle_w: 3.0, max_w: 7.0}}


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
