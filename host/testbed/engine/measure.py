"""Measure one converted artifact on an open board: send it, run it on the agent, build its record.

The engine's board worker calls ``measure_artifact(art, ctx)`` for each run of a cell; ``ctx`` (a
``MeasureContext``) is the open board and what the run needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import inputs, records
from ..errors import AgentError, TestbedError
from ..profiles import Profile
from ..transports import Transport
from ..transports.progress import ByteProgress
from .request import DeployOptions, board_runtime, choose_power, effective_measure, power_windows_wanted, run_request

if TYPE_CHECKING:
    from testbed_zoo import ZooModel

    from ..agent_client import AgentClient
    from ..converters.cache import Artifact

Progress = Callable[[str], None]


@dataclass
class MeasureContext:
    """An open board and what measuring an artifact of one model on it needs."""

    model: ZooModel  # the zoo (or user) model the artifacts were converted from
    transport: Transport  # the open transport: sends files
    client: AgentClient  # the agent on the board
    info: dict[str, Any]  # the agent's /v1/info (runtimes, power sensors)
    profile: Profile  # the board
    options: DeployOptions  # how to measure (a deploy's options, a plan cell's)
    refs: dict[str, Any]  # reference_inputs' cache for this model: "source/layout" -> (inputs, outputs)
    deployment_id: str  # the records' run_id: the deployment they are stored under
    progress: Progress = lambda msg: None  # what happens now: the upload's bytes, the run on the agent
    faults: tuple[type[BaseException], ...] = ()  # raised, not recorded: the engine retries them
    live: bool = False  # progress goes to a live status line (a terminal), not into a log: say more, as often


def measure_artifact(art: Artifact, ctx: MeasureContext) -> tuple[dict, list[int], list]:
    """Measure one converted artifact on an open board: ``(record, raw latency samples, raw power samples)``.

    A failed conversion or measurement becomes a failed record with its reason. Exceptions of the
    ``ctx.faults`` types propagate instead (the engine retries board faults).
    """
    record = records.base_record(art, ctx.profile.id, ctx.deployment_id)
    if art.status != "ok":
        return record, [], []
    started = time.monotonic()
    phases: dict[str, float] = {}
    agent_phases: dict[str, float] = {}
    try:
        samples, power_samples = _measure(art, ctx, record, phases, agent_phases)
    except ctx.faults:
        raise
    except TestbedError as exc:
        record.update(status="failed", error=str(exc))
        return record, [], []
    finally:
        records.add_phases(record, phases, time.monotonic() - started, agent_phases)
    return record, samples, power_samples


def reference_inputs(model: ZooModel, art: Artifact, refs: dict) -> tuple[inputs.InputSet, records.References]:
    """The inputs file and the source framework's outputs on it (every output), per (source,
    layout), computed once."""
    key = f"{art.source}/{art.layout}"
    if key not in refs:
        inset = inputs.build(model, art.layout)
        refs[key] = (inset, records.References.of(model, model.references(art.source, inset.evals)))
    return refs[key]


def _measure(art: Artifact, ctx: MeasureContext, record: dict, phases: dict[str, float],
             agent_phases: dict[str, float]) -> tuple[list[int], list]:
    """Measure; ``phases`` gets the host's seconds: ``host_inputs`` (inputs and the source
    framework's reference outputs, once per source and layout), ``transfer``, ``agent_run`` (from
    the run request to its result), ``host_record``; ``agent_phases`` the agent's ``phases_s``."""
    lap = _Laps(phases)
    model, transport, client, info, profile, options = (ctx.model, ctx.transport, ctx.client, ctx.info,
                                                         ctx.profile, ctx.options)
    agent_runtime = board_runtime(art.runtime, info)
    runtime = (info.get("runtimes") or {}).get(agent_runtime, {})
    if not runtime.get("available"):
        raise AgentError(f"runtime '{art.runtime}' is not available on {profile.id}: "
                         f"{runtime.get('reason') or 'not installed'}")
    assert art.path is not None and art.sha256 is not None  # only ok artifacts get here (measure_artifact)
    inset, reference = reference_inputs(model, art, ctx.refs)
    lap("host_inputs")
    uploads = [ByteProgress(path.name, ctx.progress, live=ctx.live) for path in (art.path, inset.path)]
    sent = sum(transport.send(client, path, sha, progress=upload)
               for path, sha, upload in zip((art.path, inset.path), (art.sha256, inset.sha256), uploads, strict=True))
    lap("transfer")
    if any(upload.said for upload in uploads):  # the status line says "uploading ... 100 %": no longer true
        ctx.progress("running")
    measure = effective_measure(profile, options)
    power = choose_power(profile, info)
    not_sampled = None
    if power is not None and not power_windows_wanted(profile, options, info, power["sensor"]):
        not_sampled, power = records.power_not_sampled(profile, power["sensor"]), None
    run_id = client.start_run(run_request(profile, agent_runtime, art.sha256, inset.sha256, options, measure,
                                          power, inset.tensors).to_wire())
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
    derive(record, run["result"], samples[0], art, ctx)
    lap("host_record")
    return samples


def derive(record: dict, result: dict, samples: list[int], art: Artifact, ctx: MeasureContext) -> None:
    """What the figures mean (issue 16): the roofline, the trust verdict, a sustained run's curve."""
    from .. import roofline, sustain, trust

    roofline.add(record, result, art, ctx.model)
    trust.add(record, result)
    sustain.add(record, result, samples)


class _Laps:
    """``lap(name)``: the seconds since the previous lap go to ``phases[name]``."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases, self.last = phases, time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now


def add_ops(record: dict, result: dict) -> None:
    """The per-op profile: its summary in the record, the full table beside it (the store moves
    ``ops_table`` into ``results.ops``)."""
    from .. import opsreport
    from ..store.db import OPS_TABLE_KEY

    table = opsreport.normalize(result.get("ops")) or {
        "source": "none", "available": False, "ops": [],
        "reason": "the agent returned no per-op profile (an agent without profile_ops support?)"}
    record["ops"] = opsreport.summary(table, (record.get("latency_ms") or {}).get("p50"))
    record[OPS_TABLE_KEY] = table
