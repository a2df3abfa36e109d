"""`testbed deploy`: convert a model to every format, measure each artifact on a board, store, return rows.

Every result is stored the moment it exists; a failure in one variant (conversion, transfer, run)
becomes a failed row with its reason, and a lost board fails the remaining rows - nothing gathered
is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, inputs, records
from .convert import choose
from .errors import AgentError, TestbedError, TransportError
from .profiles import EffectiveMeasure, Profile
from .store import Store
from .transports import BoardClient, Transport
from .transports import get as get_transport

if TYPE_CHECKING:
    from testbed_zoo import ZooModel

    from .converters.cache import Artifact

Progress = Callable[[str], None]


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


@dataclass
class DeployOutcome:
    run_id: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why selected variants were not made (convert.Selection)


def deploy(profile: Profile, model_id: str, options: DeployOptions, store: Store,
           progress: Progress = lambda msg: None) -> DeployOutcome:
    import testbed_zoo

    from .converters.cache import build

    effective_measure(profile, options)  # a bad preset/option fails before anything is converted
    model = testbed_zoo.load(model_id)
    selection = choose(model, options.formats, options.sources, options.quantizations, profile.runtimes)
    artifacts = []
    for conv in selection.converters:
        progress(f"converting {model_id} with {conv.name}")
        artifacts.append(build(conv, model))

    outcome = DeployOutcome(run_id=store.start_deployment(profile.id, model_id, __version__), notes=selection.notes)
    transport = get_transport(profile.transport)(profile)
    transport.notify = progress
    try:
        with transport:
            progress(f"connecting to {profile.id} ({profile.transport})")
            client = transport.open()
            info = client.info()
            store.update_deployment(outcome.run_id, agent_info=info)
            refs: dict[str, tuple[inputs.InputSet, np.ndarray]] = {}
            for art in artifacts:
                record, samples, power_samples = measure_artifact(
                    art, model, transport, client, info, profile, options, refs, outcome.run_id, progress)
                store.add_result(outcome.run_id, record, samples, power_samples)
                outcome.rows.append(record)
        store.update_deployment(outcome.run_id, status="done")
    except (TransportError, AgentError) as exc:
        store.update_deployment(outcome.run_id, status="failed", error=str(exc))
        raise
    return outcome


def measure_artifact(art: Artifact, model: ZooModel, transport: Transport, client: BoardClient, info: dict,
                     profile: Profile,
                     options: DeployOptions, refs: dict, run_id: str, progress: Progress = lambda msg: None,
                     faults: tuple[type[BaseException], ...] = ()) -> tuple[dict, list[int], list]:
    """Measure one converted artifact on an open board: ``(record, raw latency samples, raw power samples)``.

    A failed conversion or measurement becomes a failed record with its reason. Exceptions of the
    ``faults`` types propagate instead (a plan retries board faults; deploy records them).
    """
    record = records.base_record(art, profile.id, run_id)
    if art.status != "ok":
        return record, [], []
    progress(f"measuring {art.converter} on {profile.id}")
    started = time.monotonic()
    phases: dict[str, float] = {}
    agent_phases: dict[str, float] = {}
    try:
        samples, power_samples = _measure(art, model, transport, client, info, profile, options, refs, record,
                                          phases, agent_phases)
    except faults:
        raise
    except TestbedError as exc:
        record.update(status="failed", error=str(exc))
        return record, [], []
    finally:
        records.add_phases(record, phases, time.monotonic() - started, agent_phases)
    return record, samples, power_samples


def reference_inputs(model: ZooModel, art: Artifact, refs: dict) -> tuple[inputs.InputSet, np.ndarray]:
    """The inputs file and the source framework's outputs on it, per (source, layout), computed once."""
    key = f"{art.source}/{art.layout}"
    if key not in refs:
        inset = inputs.build(model, art.layout)
        refs[key] = (inset, model.reference(art.source, inset.eval_nchw))
    return refs[key]


def _measure(art: Artifact, model: ZooModel, transport: Transport, client: BoardClient, info: dict, profile: Profile,
             options: DeployOptions, refs: dict, record: dict, phases: dict[str, float],
             agent_phases: dict[str, float]) -> tuple[list[int], list]:
    """Measure; ``phases`` gets the host's seconds: ``host_inputs`` (inputs and the source
    framework's reference outputs, once per source and layout), ``transfer``, ``agent_run`` (from
    the run request to its result), ``host_record``; ``agent_phases`` the agent's ``phases_s``."""
    lap = _Laps(phases)
    agent_runtime = board_runtime(art.runtime, info)
    runtime = (info.get("runtimes") or {}).get(agent_runtime, {})
    if not runtime.get("available"):
        raise AgentError(f"runtime '{art.runtime}' is not available on {profile.id}: "
                         f"{runtime.get('reason') or 'not installed'}")
    assert art.path is not None and art.sha256 is not None  # only ok artifacts get here (measure_artifact)
    inset, reference = reference_inputs(model, art, refs)
    lap("host_inputs")
    sent = transport.send(client, art.path, art.sha256) + transport.send(client, inset.path, inset.sha256)
    lap("transfer")
    measure = effective_measure(profile, options)
    power = choose_power(profile, info)
    not_sampled = None
    if power is not None and not power_windows_wanted(profile, options, info, power["sensor"]):
        not_sampled, power = records.power_not_sampled(profile, power["sensor"]), None
    run_id = client.start_run({
        "artifact_sha256": art.sha256, "runtime": agent_runtime, "inputs_sha256": inset.sha256,
        **run_settings(profile, agent_runtime, options, measure, power),
        **({"profile_ops": True} if options.profile_ops else {}),
    })
    cooldown_s = profile.thermal.cooldown_timeout_s if profile.thermal.cooldown_below_c else 0.0
    run = client.wait_run(run_id, timeout_s=measure.timeout_s + cooldown_s + 60)
    lap("agent_run")
    agent_phases.update((run.get("result") or {}).get("phases_s") or {})
    record["bytes_sent"] = sent
    record["cached"] = bool(art.cached and sent == 0)
    if power is None:
        record["power"] = not_sampled or records.no_power(profile, info)
    if run["state"] != "done":
        record.update(status="failed", error=run.get("error") or f"run ended '{run['state']}'")
        return [], []
    samples = records.add_measurement(record, run["result"], reference, inset.labels, measure.to_json())
    if profile.emulated:  # timings from an emulator: every report says so
        record["measurement"]["emulated"] = profile.emulated
    if options.profile_ops:
        add_ops(record, run["result"])
    lap("host_record")
    return samples


class _Laps:
    """``lap(name)``: the seconds since the previous lap go to ``phases[name]``."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases, self.last = phases, time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now


def power_windows_wanted(profile: Profile, options: DeployOptions, info: dict, sensor: str) -> bool:
    """Whether to take power windows (the idle baseline and a timed phase of ``min_active_s``)
    with ``sensor``: always for a sensor that measures; for an estimate (a model of CPU
    utilisation: seconds of sampling that measure nothing) only when asked - ``--power-windows``
    or ``power.windows: always``."""
    probe = (info.get("power") or {}).get(sensor) or {}
    estimated = bool(probe.get("estimated", sensor == "estimate"))
    return not estimated or options.power_windows or profile.power.windows == "always"


def effective_measure(profile: Profile, options: DeployOptions) -> EffectiveMeasure:
    """The profile's measurement settings with the command line's (or a plan's) over them."""
    return profile.measure.effective(
        options.preset, options.timeout_s, warmup=options.warmup, iterations=options.iterations,
        warmup_min_s=options.warmup_min_s, min_s=options.min_s, max_s=options.max_s,
        ci_target_pct=options.ci_target_pct)


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


def add_ops(record: dict, result: dict) -> None:
    """The per-op profile: its summary in the record, the full table beside it (the store moves
    ``ops_table`` into ``results.ops``)."""
    from . import opsreport
    from .store.db import OPS_TABLE_KEY

    table = opsreport.normalize(result.get("ops")) or {
        "source": "none", "available": False, "ops": [],
        "reason": "the agent returned no per-op profile (an agent without profile_ops support?)"}
    record["ops"] = opsreport.summary(table, (record.get("latency_ms") or {}).get("p50"))
    record[OPS_TABLE_KEY] = table


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
