"""The sections of a device profile that are the same whatever the transport: ``measure:`` (with the
measurement presets), ``runtime_settings:``, ``thermal:`` and ``power:``.

Every key is documented in ``profiles/README.md`` with an example. ``runtime_settings`` is built from
the agent's runtime registry: one section per registered runtime that brings a ``Settings`` model.
The profile itself (the union on ``transport``) and the loading of ``profiles/<id>.yaml`` are in
``profiles.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from testbed_agent.runtimes import registry as agent_runtimes

from .errors import ConfigError

__all__ = ["MEASURE_KEYS", "PRESETS", "EffectiveMeasure", "MeasureSettings", "PowerSettings", "RuntimeSettings",
           "ThermalSettings"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Measurement presets (``measure.preset`` in a profile, ``--preset`` on the command line).
#: ``ci_target_pct: None`` = no adaptive stop: stop as soon as both minimums are met. The timed phase
#: is split into at least 5 windows (the agent's ``stopping.DEFAULT_WINDOWS``); the target applies to
#: the interval a rerun's median is expected to fall into (from the window medians), which is wider
#: than the old one-window CI of the median: the targets are set for it.
PRESETS: dict[str, dict[str, Any]] = {
    # A quick look: few runs, a rerun's median expected within about ±5 %.
    "quick": {"warmup": 5, "warmup_min_s": 0.0, "iterations": 20, "min_s": 0.0, "max_s": 5.0,
              "ci_target_pct": 5.0},
    # The default: warm for 0.2 s, at least 50 runs and 0.5 s in 5 windows, then one more window at
    # a time until a rerun's median is expected within ±2 % (at most 10 s).
    "default": {"warmup": 10, "warmup_min_s": 0.2, "iterations": 50, "min_s": 0.5, "max_s": 10.0,
                "ci_target_pct": 2.0},
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
    ci_target_pct: float | None = Field(default=None, ge=0)  # stop once a rerun's median is expected in ±this %; 0=off
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

