"""The result record's type: ``Record``, one per artifact measured (or failed), and its version history.

Schema history (``schema_version``; every older version is kept as a golden file in
tests/fixtures/records/vN.json, and ``records.upgrade`` reads each into the current one):
  1 (0.1.0) first version: identity, status/error, size, load, first inference, latency summary from
            raw samples, memory, accuracy, parity, cache/transfer facts, settings and tool versions.
  2 (0.1.0) ``power``: the agent's power record (sensor, estimated, method, idle_w, active_w,
            energy_mj_per_inference net of idle and gross, windows, missing_reason); its raw
            (t_ns, watts) samples are stored beside the record, not inside it.
  3 (0.1.0) measurement engine:
            ``latency_ms`` gains ``trimmed_mean`` (middle 80 %), ``cv_pct`` (std/mean %),
            ``ci_low``/``ci_high`` (distribution-free 95 % CI of the median, order statistics),
            ``ci_pct`` (its larger half-width, % of p50: the "±" figure) and ``ci_level``.
            ``measurement``: how the run was controlled and why it stopped - ``preset``, the
            ``requested`` settings (warmup, warmup_min_s, iterations = minimum runs, min_s, max_s,
            ci_target_pct, timeout_s), ``warmup_runs``, ``warmup_s``, ``timed_s``, ``stop_reason``
            (ci_target_met / minimums_met / max_s_reached / max_samples_reached; None from an agent
            without run control), ``ci_target_pct``, ``target_met`` (recomputed here from the raw
            samples; None without a target or without raw samples, False - never assumed - when the
            CI is wider or there are too few samples), ``ci_checks``, and ``mlperf`` (SingleStream VALID/INVALID, p90,
            reasons) under the mlperf preset, else None.
            Memory: ``model_memory_mb`` (max of the load and inference peaks minus the baseline, the
            worker with the runtime imported and no model) and ``memory`` with the raw figures
            (``empty_worker_rss_mb`` before the runtime import, ``baseline_rss_mb``,
            ``load_peak_rss_mb``, ``inference_peak_rss_mb``, ``peak_rss_mb``,
            ``samples_buffer_mb`` - the raw-sample buffer, left out of the model's share - and
            ``method``).
            ``thermal``: the agent's thermal record (``available``, ``status``, ``missing``,
            ``cooldown``, ``governor``, ``throttled`` True/False/None + ``throttle_reasons``,
            before/after snapshots, ``during`` summary and ~2 Hz samples); None from an older agent.
            ``settings`` also holds ``cpu_affinity``/``cpus_allowed`` and ``memory_limit_mb``.
  4 (0.1.0) ``latency_ms.p90``/``p99`` are None below ``latency_ms.percentile_min_n`` samples (new,
            {"p90": 36, "p99": 368} at 95 %: fewer samples than the percentile's distribution-free
            confidence interval needs, see ``stats.percentile_min_n``); v3 records carry them from
            any n (a p99 of 20 samples is their maximum).
  5 (0.1.0) time per phase: ``wall_s`` (the variant's time on the host, from its measurement
            request to its record) and ``phases_s``, which sums to it: the host's ``host_inputs``,
            ``transfer``, ``host_record``, ``host_other`` and ``queue_and_poll`` (the run's time
            the agent did not account for: HTTP polling, saving the run), and the agent's (``cooldown``,
            ``thermal_watch``, ``server_start``, ``worker_start``, ``worker_imports``, ``setup``,
            ``runtime_import``, ``load``, ``first_inference``, ``power_idle``, ``warmup``,
            ``measure``, ``power_summary``, ``eval``, ``profile_ops``, ``result``,
            ``worker_exit``, ``agent``; see the agent's ``manager`` and ``measure``); with an
            older agent its share stays one ``agent_run`` phase. ``worker``: how the
            measuring process started (``start``: forkserver / exec, ``fallback``).
            ``power`` gains ``idle_source`` (measured / cached / None) and ``idle_baseline`` (the
            run that measured a reused baseline, its age); an estimate that was not sampled has
            ``not_sampled: true`` and the reason in ``missing_reason``. ``memory.peak_rss_mb`` is
            the worker's own peak (VmHWM), no longer ``ru_maxrss``, which carried the agent's peak.
  6 (0.1.0) the typed record (this ``Record``), read through ``records.read``/``upgrade``:
            ``agent_run_id`` (the agent's own run id, from the result of wire schema 2: find the run
            in the board's history, ``GET /v1/runs/<id>``; None for older records, adb boards and
            failed conversions) and ``input_tensors``/``output_tensors`` (the tensors the agent fed
            and got back: lists of ``{name, shape, dtype}``; None when unknown). ``runner`` is always
            present (None in upgraded records that predate the native runner).
  7 (0.1.0) parity on every output: ``parity_outputs``, one entry per model output in its order
            (``name``, ``kind``, ``n``, ``max_abs_err``, ``rel_err`` and the agreement of its kind:
            ``top1_agreement`` for logits, ``cosine_min``/``cosine_mean``/``rank_agreement`` for
            embeddings, ``iou_mean``/``iou_min`` for boxes; see ``testbed.parity``); ``parity`` is
            now the worst of them (with its ``name``). Upgraded records get their one ``parity``
            as the single entry (name ``output``, kind ``logits`` where it has a top-1 figure).
            ``input_dtype_changes``: inputs whose dtype the artifact changed (e.g. int64 ids fed as
            int32), ``{name: [model dtype, artifact dtype]}``; None when none changed or unknown.
            ``settings.input_order``: the artifact's own input order where it differs from the
            model's (a signature sorted by name; the inputs are fed by name).
  8 (0.1.0) what the figures mean (issue 16): ``roofline`` (FLOPs and bytes per inference counted from
            the graph, the board's measured peak compute and memory bandwidth with its method,
            achieved GFLOP/s, % of peak, compute- or memory-bound; ``testbed.roofline``), ``trust``
            (``verdict`` steady / noisy / throttled / contended and ``reasons``, from the thermal
            record, the other load on the board during the run and the samples' spread;
            ``testbed.trust``) and ``sustain`` (a ``--sustain`` run: latency per second with
            temperature, frequency and throttling, first and last minute; ``testbed.sustain``).
            Each is None where not derived (older records, failed variants).
            ``latency_ms.board_spread`` (absent in records stored before it): the run-to-run spread of
            the runtime's medians on this board from the store's earlier reruns of the same artifacts
            (``testbed.rerun_spread``: ``sd_log``, ``sd_pct``, ``df``, ``reruns``, ``variants``,
            ``half_width_pct``, or the ``reason`` it is not known yet); where it is wider than the run's
            own interval the reported ``ci_low``/``ci_high``/``ci_pct``/``ci_method`` are the board's and
            the run's own is kept as ``latency_ms.ci_run`` (``low``, ``high``, ``pct``, ``method``).

Units are in field names (``_ms``, ``_mb``, ``_bytes``, ``_s``). A figure that could not be taken is
``None`` and ``status``/``error`` say why - never a made-up number.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 8


class Record(BaseModel):
    """One artifact's result record, schema ``SCHEMA_VERSION`` (see the history above).

    Extra keys are kept (``latency_source``/``tool_summary`` from adb boards, an ``ops`` summary):
    they are optional parts of a record, not typos - the record is written by code, not by people.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    # identity: which deployment (the host's run id), board and variant
    run_id: str  # the deployment (or plan run's deployment) this record belongs to
    agent_run_id: str | None = None  # v6: the agent's run id (None: not measured by an agent)
    device: str  # the profile id
    model: str
    converter: str
    format: str | None = None
    source: str | None = None
    quantization: str | None = None
    runtime: str  # the runtime the variant asks for
    runner: str | None = None  # python | native: which loop timed it (None: older records)
    status: str  # ok | failed | skipped ...; ``error`` says why when not ok
    error: str | None = None
    # the artifact and its conversion
    size_bytes: int | None = None
    sha256: str | None = None
    conversion_s: float | None = None
    tool_versions: dict[str, Any] = {}  # converter and framework versions
    conversion_info: dict[str, Any] = {}
    # the measurement (None where not measured)
    load_ms: float | None = None
    first_inference_ms: float | None = None
    latency_ms: dict[str, Any]  # stats.latency_summary of the raw samples
    peak_rss_mb: float | None = None
    load_peak_rss_mb: float | None = None
    baseline_rss_mb: float | None = None
    accuracy: float | None = None  # top-1 on the model's evaluation inputs
    parity: dict[str, Any] | None = None  # outputs against the framework's reference (v7: the worst output)
    parity_outputs: list[dict[str, Any]] | None = None  # v7: every output's parity, in the model's order
    input_dtype_changes: dict[str, list[str]] | None = None  # v7: {name: [model dtype, artifact dtype]}
    cached: bool = False  # the artifact came from the conversion cache
    bytes_sent: int = 0
    runtime_version: str | None = None
    threads: int | None = None
    settings: dict[str, Any] = {}  # what the runtime applied, isolation (cpu_affinity, memory limit)
    warmup: int | None = None
    iterations: int | None = None
    power: dict[str, Any] | None = None  # v2
    measurement: dict[str, Any] | None = None  # v3
    model_memory_mb: float | None = None  # v3
    memory: dict[str, Any] | None = None  # v3
    thermal: dict[str, Any] | None = None  # v3: with the CPU governor
    wall_s: float | None = None  # v5
    phases_s: dict[str, float] | None = None  # v5
    worker: dict[str, Any] | None = None  # v5
    input_tensors: list[dict[str, Any]] | None = None  # v6: [{name, shape, dtype}]
    output_tensors: list[dict[str, Any]] | None = None  # v6
    roofline: dict[str, Any] | None = None  # v8: testbed.roofline
    trust: dict[str, Any] | None = None  # v8: testbed.trust - {verdict, reasons, ...}
    sustain: dict[str, Any] | None = None  # v8: testbed.sustain (a --sustain run only)

    def to_json(self) -> dict[str, Any]:
        """The record's JSON shape (the CLI's ``--json``, the store's ``results.record``)."""
        return self.model_dump(mode="json")
