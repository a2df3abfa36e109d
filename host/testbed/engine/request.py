"""What a run request to the agent says: a deploy's options, the profile's measurement settings
with them applied, the runtime that runs an artifact on this board, the power block.

    DeployOptions        a deploy's (or a plan cell's) options
    effective_measure    the profile's measurement settings with the options over them
    SustainedMeasure     those settings for a sustained run (``--sustain``): the whole window timed
    run_settings         the run request's measurement, runtime and isolation fields
    run_request          the whole run request, built as the agent's wire schema (``RunRequest``)
    board_runtime        the agent runtime that runs a runtime's artifacts here (fallbacks)
    choose_power         the power block: the profile's first sensor the board has
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from testbed_agent.schema import RunRequest, TensorSpec

from ..profiles import EffectiveMeasure, Profile


@dataclass
class DeployOptions:
    formats: list[str] | None = None  # executorch / onnx / tflite; None = all
    sources: list[str] | None = None  # pytorch / keras; None = both
    quantizations: list[str] | None = None  # fp32 / fp16 / int8-dynamic / int8-static / int8 (user file); None = all
    warmup: int | None = None  # None = the profile's (its measure preset, then its own keys)
    iterations: int | None = None  # the minimum number of timed runs
    threads: int | None = None
    timeout_s: float | None = None
    preset: str | None = None  # quick / default / mlperf; None = the profile's measure.preset
    warmup_min_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    ci_target_pct: float | None = None  # 0 = no adaptive stop
    profile_ops: bool = False  # a per-op profile pass after the timed runs (opsreport)
    power_windows: bool = False  # sample power even when the board's only source is an estimate
    sustain_s: float | None = None  # a sustained run (--sustain): every variant timed for this whole window
    repeats: int = 1  # fresh workers per variant (--repeats): the interval then covers a fresh rerun


@dataclass(frozen=True)
class SustainedMeasure(EffectiveMeasure):
    """The settings of a sustained run: ``min_s = max_s = sustain_s`` (every variant runs the whole
    window), no adaptive stop, one timed run as the minimum count (the window decides), the preset's
    warm-up, a timeout of the window plus a margin (``MeasureSettings.effective``'s). ``to_json()``
    (the record's ``measurement.requested``) carries ``sustain_s``: how the record knows."""

    sustain_s: float


def effective_measure(profile: Profile, options: DeployOptions) -> EffectiveMeasure:
    """The profile's measurement settings with the command line's (or a plan's) over them; for a
    sustained run (``options.sustain_s``) the window replaces the timed phase's settings."""
    window = options.sustain_s
    if window is None:
        return profile.measure.effective(
            options.preset, options.timeout_s, warmup=options.warmup, iterations=options.iterations,
            warmup_min_s=options.warmup_min_s, min_s=options.min_s, max_s=options.max_s,
            ci_target_pct=options.ci_target_pct)
    measure = profile.measure.effective(
        options.preset, options.timeout_s, warmup=options.warmup, warmup_min_s=options.warmup_min_s,
        iterations=1, min_s=window, max_s=window, ci_target_pct=0)
    return SustainedMeasure(**asdict(measure), sustain_s=window)


def run_settings(profile: Profile, runtime: str, options: DeployOptions, measure: EffectiveMeasure,
                 power: dict | None) -> dict:
    """The run request's measurement, runtime and isolation fields (see docs/agent-api.md).

    Threads: ``--threads``, else ``runtime_settings.<runtime>`` threads, else the profile's. A power
    sensor needs a timed window of at least ``power.min_active_s``: it raises ``min_time_s``."""
    threads_override, settings = profile.runtime_settings.for_runtime(runtime)
    min_time_s = max(measure.min_s, profile.power.min_active_s if power else 0.0)
    fields: dict = {
        "threads": options.threads or threads_override or profile.threads,
        "warmup": measure.warmup, "warmup_min_s": measure.warmup_min_s,
        "iterations": measure.iterations, "min_time_s": min_time_s,
        "max_time_s": max(measure.max_s, min_time_s), "ci_target_pct": measure.ci_target_pct,
        "timeout_s": measure.timeout_s, "return_outputs": True,
    }
    if power:
        fields["power"] = power
    if settings:
        fields["runtime_settings"] = settings
    if profile.cpu_affinity:
        fields["cpu_affinity"] = profile.cpu_affinity
    if profile.memory_limit_mb:
        fields["memory_limit_mb"] = profile.memory_limit_mb
    if profile.thermal.cooldown_below_c is not None:
        fields["thermal"] = profile.thermal.model_dump()
    return fields


def run_request(profile: Profile, runtime: str, artifact_sha256: str, inputs_sha256: str,
                options: DeployOptions, measure: EffectiveMeasure, power: dict | None,
                inputs: list[TensorSpec] | None = None) -> RunRequest:
    """The run request for ``runtime`` on this board, as the wire schema's ``RunRequest`` (the one
    definition the agent parses it with; ``to_wire()`` is the JSON body, with ``schema``). ``inputs``:
    the inputs file's tensors, which the agent checks the file against."""
    return RunRequest(artifact_sha256=artifact_sha256, runtime=runtime, inputs_sha256=inputs_sha256,
                      profile_ops=True if options.profile_ops else None, inputs=inputs, peak=True,
                      **run_settings(profile, runtime, options, measure, power))


def board_runtime(runtime: str, info: dict) -> str:
    """The agent runtime that runs ``runtime``'s artifacts: ``runtime`` itself where the board has
    it, else its plug-in's first available fallback (ExecuTorch's Python runtime falls back to the
    native runner, ``executorch-native``, no torch); else ``runtime`` (its own reason is reported)."""
    from testbed_agent.runtimes import RUNTIMES

    probes = info.get("runtimes") or {}
    fallbacks = RUNTIMES.get(runtime).fallbacks if runtime in RUNTIMES else ()
    for candidate in (runtime, *fallbacks):
        if (probes.get(candidate) or {}).get("available"):
            return candidate
    return runtime


def choose_power(profile: Profile, info: dict) -> dict | None:
    """The run request's power block: the profile's first sensor the board reports available."""
    probes = info.get("power") or {}
    for name in profile.power.sensors:
        if name != "none" and (probes.get(name) or {}).get("available"):
            return {"sensor": name, "rate_hz": profile.power.rate_hz,
                    "idle_window_s": profile.power.idle_window_s,
                    **({"idle_valid_s": profile.power.idle_valid_s}
                       if "power.idle_valid_s" in (info.get("features") or []) else {}),
                    "settings": profile.power.settings.get(name, {})}
    return None


def power_windows_wanted(profile: Profile, options: DeployOptions, info: dict, sensor: str) -> bool:
    """Whether to take power windows (the idle baseline and a timed phase of ``min_active_s``)
    with ``sensor``: always for a sensor that measures; for an estimate (a model of CPU
    utilisation: seconds of sampling that measure nothing) only when asked - ``--power-windows``
    or ``power.windows: always``."""
    probe = (info.get("power") or {}).get(sensor) or {}
    estimated = bool(probe.get("estimated", sensor == "estimate"))
    return not estimated or options.power_windows or profile.power.windows == "always"
