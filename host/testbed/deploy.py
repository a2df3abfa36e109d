"""`testbed deploy`: one model on one board, every selected variant - a run of the engine.

A deploy is a plan of one board: its variants become cells (``engine.plan``), stored before anything
is measured, converted in worker processes and measured as each artifact is ready (``engine.run``),
each committed the moment it finishes - through the same connect, lease, retry, store and progress
code as `testbed run`. A failure in one variant (conversion, transfer, run) is a failed row with its
reason; Ctrl-C keeps what was measured, and ``testbed deploy --resume RUN`` measures the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import records, rerun_spread
from .convert import choose
from .engine import run as engine
from .engine.measure import MeasureContext, measure_artifact, reference_inputs  # noqa: F401  (re-exported)
from .engine.plan import ExecutionSpec, MeasureSpec, Plan, cell_key
from .engine.request import DeployOptions, board_runtime, effective_measure, run_settings  # noqa: F401
from .errors import ConfigError, TestbedError
from .profiles import Profile
from .store import FINISHED, Store
from .transports import get as get_transport

Progress = Callable[[str], None]
RESUME = "testbed deploy --resume"
#: One retry of a board fault: a deploy is interactive, a dropped connection is worth one more try.
EXECUTION = ExecutionSpec(retries=1, backoff_s=2.0)


@dataclass
class DeployOutcome:
    run_id: str  # the run (`testbed runs`, `testbed deploy --resume`); records carry their deployment id
    rows: list[dict] = field(default_factory=list)  # one record per finished variant, in selection order
    notes: list[str] = field(default_factory=list)  # why selected variants were not made (convert.Selection)
    status: str = "done"  # done | interrupted
    unfinished: int = 0  # variants not measured (interrupted, or the board lost): a resume measures them
    convert_s: float | None = None  # wall time until the last artifact was ready


def deploy(profile: Profile, model_id: str, options: DeployOptions, store: Store,
           progress: Progress = lambda msg: None, *, device: str | None = None,
           run_options: engine.Options | None = None) -> DeployOutcome:
    """Deploy ``model_id``'s selected variants to the board; ``device`` is how the user named the board
    (a profile id or file: stored, so a resume finds it again)."""
    import testbed_zoo

    effective_measure(profile, options)  # a bad preset/option fails before anything is converted
    model = testbed_zoo.load(model_id)
    selection = choose(model, options.formats, options.sources, options.quantizations, profile.runtimes)
    plan = deploy_plan(profile, model_id, options, device)
    cells = [{"key": cell_key(profile.id, model_id, conv.name, options.threads), "device": profile.id,
              "model": model_id, "converter": conv.name, "format": conv.format, "source": conv.source,
              "quantization": conv.quantization, "runtime": conv.runtime, "threads": options.threads,
              "repeats": options.repeats} for conv in selection.converters]
    result = engine.start(plan, [profile], cells, store, kind="deploy",
                          options=_options(run_options, progress))
    return _outcome(store, result, selection.notes)


def resume(run_id: str, store: Store, progress: Progress = lambda msg: None,
           run_options: engine.Options | None = None) -> tuple[str, DeployOutcome]:
    """Measure the variants an interrupted deploy did not: ``(model id, outcome)``."""
    run = store.find_plan_run(run_id)
    if run.kind != "deploy":
        raise ConfigError(f"run {run.id} is a plan run: `testbed run --resume {run.id}` finishes it")
    result = engine.resume(run.id, store, _options(run_options, progress))
    return run.plan["models"][0], _outcome(store, result, [])


def deploy_plan(profile: Profile, model_id: str, options: DeployOptions, device: str | None = None) -> Plan:
    """The one-board plan of a deploy: its filters, threads and measurement options as a plan states them."""
    ref = device or profile.id
    if Path(ref).is_file():  # a profile file: found again from any directory
        ref = str(Path(ref).resolve())
    given = {f.name: getattr(options, f.name) for f in dataclasses.fields(DeployOptions)}
    default = {f.name: getattr(DeployOptions(), f.name) for f in dataclasses.fields(DeployOptions)}
    own = {"formats", "sources", "quantizations", "threads", "timeout_s", "preset", "warmup", "iterations",
           "repeats"}
    passed = {k: v for k, v in given.items() if k not in own and v != default[k]}
    return Plan(name=f"deploy/{profile.id}/{model_id}", description=f"testbed deploy of {model_id} on {profile.id}",
                devices=[ref], models=[model_id], formats=options.formats, sources=options.sources,
                quantization=options.quantizations, threads=[options.threads], repeats=options.repeats,
                measure=MeasureSpec(preset=options.preset, warmup=options.warmup, iterations=options.iterations,
                                    options=passed),
                execution=EXECUTION.model_copy(update={"cell_timeout_s": options.timeout_s}))


def _options(given: engine.Options | None, progress: Progress) -> engine.Options:
    opts = given or engine.Options()
    opts.progress, opts.resume_hint = progress, RESUME
    opts.connect = _connector(progress)
    return opts


def _connector(progress: Progress) -> Callable[[Profile], tuple[Any, Any]]:
    """Open the board's transport, its messages (waiting for this machine's lock, ...) on the status line."""
    def connect(profile: Profile) -> tuple[Any, Any]:
        transport = get_transport(profile.transport)(profile)
        transport.notify = progress
        try:
            return transport, transport.open()
        except BaseException:
            transport.close()
            raise
    return connect


def _outcome(store: Store, result: engine.RunResult, notes: list[str]) -> DeployOutcome:
    """The rows of the run's finished variants; a board that never answered is the deploy's error."""
    cells = store.plan_cells(result.run_id)
    results = store.cell_results([c.id for c in cells])
    status, reason = next(iter(result.boards.values()), ("ok", None))
    if status in ("bad", "busy") and not any(results.values()):
        raise TestbedError(f"{cells[0].device}: {reason}" if cells else str(reason))
    outcome = DeployOutcome(run_id=result.run_id, notes=notes, status=result.status, convert_s=result.convert_s)
    deployment = next((c.deployment_id for c in cells if c.deployment_id), None) or ""
    for cell in cells:
        if len(results[cell.id]) > 1 and all(r.record.get("status") == "ok" for r in results[cell.id]):
            outcome.rows.append(repeats_row(results[cell.id]))
        elif results[cell.id]:
            outcome.rows += [r.record for r in results[cell.id]]
        elif cell.state in ("skipped", "error", "failed"):  # not measured, with the reason
            outcome.rows.append(_unmeasured(cell, deployment))
        if cell.state not in FINISHED:
            outcome.unfinished += 1
    return outcome


def repeats_row(results: list[Any]) -> dict:
    """One row for a variant measured in several fresh workers (``--repeats``; every one ok): the
    first run's record with the latency of all of them (``stats.repeats_latency``: the pooled
    percentiles, the interval from the workers' medians, which covers a fresh rerun), the least
    trustworthy trust verdict of them, and ``repeats`` (each run's p50 and result id). Load time, memory,
    energy and parity are the first run's; each run stays a record of its own in the store."""
    from .stats import repeats_latency
    from .verdicts import TRUST_ORDER

    first = dict(results[0].record)
    first["latency_ms"] = repeats_latency([r.samples_ns or [] for r in results])
    spread = (results[0].record.get("latency_ms") or {}).get("board_spread")
    if spread:  # the board's run-to-run spread as the cell was stored (single runs: a bound on the safe side)
        first["latency_ms"] = rerun_spread.widen(first["latency_ms"], rerun_spread.BoardSpread.from_json(spread))
    rank = {name: i for i, name in enumerate(TRUST_ORDER)}
    trusts = [r.record["trust"] for r in results if r.record.get("trust")]
    if trusts:
        first["trust"] = min(trusts, key=lambda t: rank.get(t.get("verdict"), len(rank)))
    first["repeats"] = {"runs": len(results), "result_ids": [r.id for r in results],
                        "p50_ms": [(r.record.get("latency_ms") or {}).get("p50") for r in results],
                        "note": "latency from all runs (interval: between fresh workers); load time, memory, "
                                "energy and parity from the first"}
    return first


def _unmeasured(cell: Any, deployment_id: str) -> dict:
    """A variant's row when it has no record: its identity, its state as the status, the reason."""
    art = SimpleNamespace(model=cell.model, converter=cell.converter, format=cell.format, source=cell.source,
                          quantization=cell.quantization, runtime=cell.runtime, status=cell.state, error=cell.error,
                          size_bytes=None, sha256=None, conversion_s=None, tool_versions={}, extra={})
    return records.base_record(art, cell.device, cell.deployment_id or deployment_id)
