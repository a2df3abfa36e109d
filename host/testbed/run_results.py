"""The Python API's typed results (``testbed.deploy``, ``testbed.results``, ``testbed.runs``).

    RunResults      one run (a deploy or a plan run): its id, boards, models, status and one row per
                    variant measured or failed; ``to_pandas()`` makes it a table
    VariantResult   one variant's record, flattened: units in the field names (``p50_ms``,
                    ``size_bytes``); the whole record in ``record``, the raw samples in ``samples_ns``
    RunSummary      one run as `testbed runs` lists it

Built from stored rows whose records the store has already upgraded to the current version
(``records.upgrade``), so an old run reads like a new one. A figure that was not taken is None
(NaN in pandas) and ``status``/``error`` say why - never a made-up number.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from .errors import ConfigError

#: How many variants ``repr`` lists before it says how many more there are.
REPR_ROWS = 20


@dataclass(frozen=True)
class VariantResult:
    """One variant of a run: how it ran and what was converted; a column of ``to_pandas()`` per field, in
    this order: the variant and the deploy table's figures first, its runtime and status last - the
    columns a print of a frame too wide for the screen keeps (the first and the last ones)."""

    variant: str  # the converter's name, e.g. onnx-torch-fp32 (the deploy table's Variant)
    p50_ms: float | None  # median latency per inference, from the raw samples
    ci_pct: float | None  # the 95 % CI of the median: its larger half-width, % of p50 (the table's ±CI)
    trust: str | None  # steady | noisy | throttled | contended (testbed.trust); None: records before schema 8
    trust_reason: str | None  # why a result is not steady (its reasons, joined)
    p99_ms: float | None  # None below the samples the percentile's own CI needs (record schema 4)
    size_bytes: int | None  # the artifact
    load_ms: float | None
    model_memory_mb: float | None  # peak RSS loading and running minus the worker with the runtime imported
    accuracy: float | None  # top-1 on the model's labelled evaluation inputs, 0..1
    agreement: float | None  # the worst output's agreement with the source framework (see agreement_metric)
    agreement_metric: str | None  # top1_agreement (0..1) | cosine_min | iou_min
    energy_mj_per_inference: float | None  # net of the idle baseline
    achieved_gflops: float | None  # FLOPs counted from the graph over p50 (testbed.roofline)
    pct_of_peak: float | None  # of the board's measured peak (None: not measured, and the record says why)
    bound: str | None  # compute | memory, by the board's ridge point
    power_w: float | None  # mean power while timed (None: not sampled; power_estimated: a model, not a sensor)
    power_estimated: bool | None
    power_sensor: str | None
    p90_ms: float | None
    mean_ms: float | None
    ci_low_ms: float | None  # the 95 % CI of the median (order statistics, no distribution assumed)
    ci_high_ms: float | None
    n_samples: int | None  # timed runs
    target_met: bool | None  # the precision target (ci_target_pct) reached; None without one
    first_inference_ms: float | None
    peak_rss_mb: float | None  # the measuring worker's own peak
    parity_max_abs_err: float | None  # the worst output's largest absolute difference from the source
    throttled: bool | None  # the board throttled while measuring (None: unknown)
    device: str  # the profile id
    model: str
    format: str | None  # executorch | onnx | tflite | pt2 | savedmodel
    source: str | None  # pytorch | keras
    quantization: str | None  # fp32 | fp16 | int8-dynamic | int8-static | int8
    threads: int | None  # the threads asked for (None: the runtime's own default)
    repeat: int  # 0, 1, ...: a plan's repeats of one cell; always 0 in a deploy
    runtime_version: str | None
    cached: bool  # the artifact came from the conversion cache
    error: str | None
    runtime: str
    status: str  # ok | failed | skipped | error: a variant that did not run says why in ``error``
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the full record
    samples_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)
    power_samples: list[list[Any]] = field(default_factory=list, repr=False, compare=False)  # [t_ns, watts]

    @classmethod
    def from_record(cls, record: dict[str, Any], samples_ns: list[int] | None = None,
                    power_samples: list | None = None, *, threads: int | None = None,
                    repeat: int = 0) -> VariantResult:
        """A stored record (of the current version) and its raw samples; ``threads``: the cell's,
        where the record does not say (a variant that was not measured)."""
        lat = record.get("latency_ms") or {}
        power = record.get("power") or {}
        trust, roof = record.get("trust") or {}, record.get("roofline") or {}
        sampled = power.get("active_w") is not None
        parity = record.get("parity") or {}
        metric = next((k for k in ("cosine_min", "iou_min", "top1_agreement") if parity.get(k) is not None), None)
        return cls(
            device=record["device"], model=record["model"], variant=record["converter"],
            format=record.get("format"), source=record.get("source"), quantization=record.get("quantization"),
            runtime=record["runtime"], threads=record.get("threads") or threads, repeat=repeat,
            status=record["status"], error=record.get("error"), size_bytes=record.get("size_bytes"),
            p50_ms=lat.get("p50"), ci_low_ms=lat.get("ci_low"), ci_high_ms=lat.get("ci_high"),
            ci_pct=lat.get("ci_pct"), p90_ms=lat.get("p90"), p99_ms=lat.get("p99"), mean_ms=lat.get("mean"),
            n_samples=lat.get("n") or None, target_met=(record.get("measurement") or {}).get("target_met"),
            load_ms=record.get("load_ms"), first_inference_ms=record.get("first_inference_ms"),
            model_memory_mb=record.get("model_memory_mb"), peak_rss_mb=record.get("peak_rss_mb"),
            accuracy=record.get("accuracy"), agreement=parity.get(metric) if metric else None,
            agreement_metric=metric, parity_max_abs_err=parity.get("max_abs_err"),
            power_w=power.get("active_w") if sampled else None,
            energy_mj_per_inference=power.get("energy_mj_per_inference") if sampled else None,
            power_estimated=bool(power.get("estimated")) if sampled else None,
            power_sensor=power.get("sensor"), throttled=(record.get("thermal") or {}).get("throttled"),
            trust=trust.get("verdict"), trust_reason="; ".join(trust.get("reasons") or []) or None,
            achieved_gflops=roof.get("achieved_gflops"), pct_of_peak=roof.get("pct_of_peak"), bound=roof.get("bound"),
            runtime_version=record.get("runtime_version"), cached=bool(record.get("cached")),
            record=record, samples_ns=np.asarray(samples_ns or [], dtype=np.int64),
            power_samples=[list(p) for p in power_samples or []])

    def samples_ms(self) -> np.ndarray:
        """The raw per-inference latencies in milliseconds, in the order they were timed (empty: not
        measured, or a board's native tool that reports a summary only)."""
        return self.samples_ns.astype(np.float64) / 1e6


#: The table's columns: VariantResult's fields but the record and the raw samples.
COLUMNS = [f.name for f in dataclasses.fields(VariantResult) if f.name not in ("record", "samples_ns",
                                                                                "power_samples")]
#: A column's pandas dtype from its field's type: nullable integers and booleans keep "not taken" apart
#: from 0 and False; floats use NaN.
_DTYPES = {"float | None": "float64", "int | None": "Int64", "int": "int64", "bool | None": "boolean",
           "bool": "bool", "str": "string", "str | None": "string"}
DTYPES = {f.name: _DTYPES[str(f.type)] for f in dataclasses.fields(VariantResult) if f.name in COLUMNS}


@dataclass(frozen=True)
class RunResults:
    """A run's results, one row per variant (per repeat in a plan): ``to_pandas()`` for the table,
    ``variant(name)`` for one row and its raw samples, ``record`` of a row for everything else."""

    run_id: str  # `testbed runs`; testbed.results(run_id) reads it back
    kind: str  # deploy | plan | deployment: a record's run_id, or a deploy stored before deploys were runs
    status: str  # done | interrupted | running | failed
    created_at: datetime | None  # UTC
    devices: list[str]
    models: list[str]
    rows: list[VariantResult]  # in the run's order; variants not measured yet are not listed
    unfinished: int = 0  # variants not measured (interrupted): `testbed deploy --resume RUN` measures them
    notes: list[str] = field(default_factory=list)  # why selected variants were not made (deploy only)
    store_url: str = ""

    @property
    def device(self) -> str:
        """The board (boards, comma-separated, in a plan run)."""
        return ", ".join(self.devices)

    @property
    def model(self) -> str:
        """The model (models, comma-separated, in a plan run)."""
        return ", ".join(self.models)

    def variant(self, name: str, device: str | None = None) -> VariantResult:
        """The row of variant ``name`` (on ``device``, in a plan run of several boards)."""
        found = [r for r in self.rows if r.variant == name and device in (None, r.device)]
        if not found:
            raise ConfigError(f"no variant '{name}' in run {self.run_id}; it has: "
                              f"{', '.join(dict.fromkeys(r.variant for r in self.rows)) or 'none'}")
        return found[0]

    def to_pandas(self) -> Any:
        """One row per variant, the columns of ``COLUMNS`` (units in their names: ``p50_ms``,
        ``size_bytes``), typed: floats with NaN for a figure not taken, nullable integers and booleans."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ConfigError("RunResults.to_pandas() needs pandas, which is not installed: "
                              "`pip install pandas`") from exc
        strings = "str" if int(pd.__version__.split(".")[0]) >= 3 else "string"
        data = {c: pd.Series([getattr(r, c) for r in self.rows], dtype=object) for c in COLUMNS}
        return pd.DataFrame({c: data[c].astype(strings if DTYPES[c] == "string" else DTYPES[c]) for c in COLUMNS})

    def __repr__(self) -> str:
        ok = sum(r.status == "ok" for r in self.rows)
        lines = [f"RunResults: {self.kind} {self.run_id} of {self.model or '?'} on {self.device or '?'} "
                 f"({self.status}): {len(self.rows)} variant(s), {ok} ok"
                 + (f", {len(self.rows) - ok} not ok" if ok < len(self.rows) else "")
                 + (f", {self.unfinished} not measured" if self.unfinished else "")]
        several = len(self.devices) > 1 or len(self.models) > 1
        names = [f"{r.device}/{r.model}/{r.variant}" if several else r.variant for r in self.rows]
        width = max([len(n) for n in names[:REPR_ROWS]] + [7])
        if self.rows:
            lines.append(f"  {'variant':<{width}}  {'runtime':<12} {'p50 ms':>9} {'±CI %':>6} {'size KB':>8}")
        for name, r in list(zip(names, self.rows, strict=True))[:REPR_ROWS]:
            if r.status != "ok":
                reason = (r.error or "").splitlines()[0] if r.error else ""
                lines.append(f"  {name:<{width}}  {r.status}: {reason[:70]}")
                continue
            lines.append(f"  {name:<{width}}  {r.runtime:<12} {_num(r.p50_ms, '9.3f')} {_num(r.ci_pct, '6.2f')} "
                         f"{_num(r.size_bytes / 1024 if r.size_bytes else None, '8.1f')}")
        if len(self.rows) > REPR_ROWS:
            lines.append(f"  ... {len(self.rows) - REPR_ROWS} more: .to_pandas() has them all")
        if self.unfinished:
            lines.append(f"  {self.unfinished} not measured: `testbed deploy --resume {self.run_id}` measures them")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A notebook's view: the summary line and the table's main columns (the plain repr without pandas)."""
        head, _, _ = repr(self).partition("\n")
        try:
            frame = self.to_pandas()
        except ConfigError:
            return f"<pre>{html.escape(repr(self))}</pre>"
        shown = ["device", "variant", "runtime", "status", "p50_ms", "ci_pct", "p99_ms", "size_bytes", "load_ms",
                 "model_memory_mb", "accuracy", "agreement", "energy_mj_per_inference"]
        if len(self.devices) <= 1:
            shown.remove("device")
        return f"<p>{html.escape(head)}</p>" + frame[shown].to_html(index=False, na_rep="–")


@dataclass(frozen=True)
class RunSummary:
    """One stored run, as `testbed runs` lists it (newest first)."""

    run_id: str
    kind: str  # deploy | plan | deploy (old)
    status: str
    created_at: datetime  # UTC
    devices: list[str]
    models: list[str]
    done: int | None  # variants (cells) finished, done or failed; None for an old deploy
    total: int | None


def _num(value: float | None, fmt: str) -> str:
    width = int(fmt.split(".")[0])
    return f"{'–':>{width}}" if value is None else format(value, fmt)
