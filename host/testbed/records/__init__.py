"""The result record: one per artifact measured (or failed) in a deploy. Versioned and documented.

    model.Record          the record's type, its fields and its version history (``SCHEMA_VERSION``)
    upgrade.upgrade/read  readers: any older stored version upgraded to the current one (the store's
                          readers go through them)
    base_record ...       building a record from a conversion and the agent's typed result

Units are in field names (``_ms``, ``_mb``, ``_bytes``, ``_s``). A figure that could not be taken is
``None`` and ``status``/``error`` say why - never a made-up number.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from testbed_agent.rerun_interval import window_medians

from .. import parity as output_parity
from ..stats import accuracy, latency_summary, mlperf_singlestream, result_latency, target_met, window_bounds
from .model import SCHEMA_VERSION, Record
from .upgrade import RecordVersionError, read, upgrade

__all__ = ["MB", "SCHEMA_VERSION", "Record", "RecordVersionError", "References", "add_measurement", "add_parity",
           "add_phases", "base_record", "decode_npy", "measurement", "memory", "no_power", "power_not_sampled", "read",
           "upgrade"]
MB = 1024 * 1024


def base_record(artifact: Any, device: str, run_id: str) -> dict:
    """The part of the record known before measuring: what was converted, how, and whether it worked
    (a dict of ``Record``'s shape, checked by it)."""
    return Record.model_validate({
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "agent_run_id": None, "device": device,
        "model": artifact.model, "converter": artifact.converter, "format": artifact.format,
        "source": artifact.source, "quantization": artifact.quantization, "runtime": artifact.runtime,
        "runner": None, "status": artifact.status, "error": artifact.error,
        "size_bytes": artifact.size_bytes, "sha256": artifact.sha256, "conversion_s": artifact.conversion_s,
        "tool_versions": dict(artifact.tool_versions), "conversion_info": dict(artifact.extra),
        "load_ms": None, "first_inference_ms": None, "latency_ms": latency_summary([]),
        "peak_rss_mb": None, "load_peak_rss_mb": None, "baseline_rss_mb": None,
        "accuracy": None, "parity": None, "parity_outputs": None, "input_dtype_changes": None,
        "cached": False, "bytes_sent": 0,
        "runtime_version": None, "threads": None, "settings": {}, "warmup": None, "iterations": None,
        "power": None, "measurement": None, "model_memory_mb": None, "memory": None, "thermal": None,
        "wall_s": None, "phases_s": None, "worker": None, "input_tensors": None, "output_tensors": None,
    }).to_json()


def no_power(profile: Any, info: dict) -> dict:
    """The power record when no listed sensor is available on the board: missing, with the reason."""
    probes = info.get("power") or {}
    reasons = [f"{n}: {(probes.get(n) or {}).get('reason') or 'not reported by the agent'}"
               for n in profile.power.sensors if n != "none"]
    return {"sensor": None, "estimated": False, "idle_w": None, "active_w": None,
            "energy_mj_per_inference": None, "energy_mj_per_inference_gross": None,
            "missing_reason": "; ".join(reasons) or "no power sensor in the profile (power.sensors)"}


def power_not_sampled(profile: Any, sensor: str) -> dict:
    """The power record of a board whose only power source is an estimate, without power windows:
    missing, with the reason, labelled as an estimate."""
    return {"sensor": sensor, "estimated": True, "not_sampled": True, "idle_w": None,
            "active_w": None, "energy_mj_per_inference": None, "energy_mj_per_inference_gross": None,
            "missing_reason": (f"not sampled: the only power source on {profile.id} is '{sensor}', a model "
                               "of CPU utilisation, not a sensor; its windows (idle "
                               f"{profile.power.idle_window_s:g} s, timed >= {profile.power.min_active_s:g} s "
                               "per variant) are taken only with --power-windows or power.windows: always")}


def add_phases(record: dict, host: dict[str, float], wall_s: float, agent: dict | None = None) -> None:
    """``wall_s`` and ``phases_s`` (see schema 5): the host's phases, the agent's ``phases_s``
    in place of ``agent_run`` (its time the agent did not account for as ``queue_and_poll``)."""
    phases = dict(host)
    if agent and "agent_run" in phases:
        run_s = phases.pop("agent_run")
        phases.update(agent)
        phases["queue_and_poll"] = max(0.0, run_s - sum(agent.values()))
    phases["host_other"] = max(0.0, wall_s - sum(phases.values()))
    record["wall_s"] = round(wall_s, 6)
    record["phases_s"] = {k: round(v, 6) for k, v in phases.items()}


def add_measurement(record: dict, result: dict, reference: References | np.ndarray | None,
                    labels: np.ndarray | None, requested: dict | None = None) -> tuple[list[int], list]:
    """Fill the record from the agent's raw result; return the raw latency and power samples
    to store beside it. ``requested``: the measurement settings sent (``EffectiveMeasure``)."""
    samples = [int(s) for s in result.get("samples_ns", [])]
    power = dict(result.get("power") or {})
    power_samples = power.pop("samples", [])
    power.pop("counter_samples", None)
    if power:
        record["power"] = power
    record.update({
        "status": "ok", "error": None, "runner": result.get("runner"),
        "agent_run_id": result.get("run_id"),  # the agent's run id (wire schema 2)
        "input_tensors": result.get("input_tensors"), "output_tensors": result.get("output_tensors"),
        "runtime_version": result.get("runtime_version"), "threads": result.get("threads"),
        "settings": result.get("settings", {}), "warmup": result.get("warmup"),
        "input_dtype_changes": (result.get("settings") or {}).get("input_casts") or None,
        "iterations": result.get("iterations"), "load_ms": result.get("load_ms"),
        "first_inference_ms": result.get("first_inference_ms"), "latency_ms": result_latency(result),
        "peak_rss_mb": _mb(result.get("peak_rss_bytes")),
        "load_peak_rss_mb": _mb(result.get("load_peak_rss_bytes")),
        "baseline_rss_mb": _mb(result.get("baseline_rss_bytes")),
    })
    if not samples and result.get("tool_summary"):
        # adb boards: the native tools print summaries only; say so instead of inventing samples
        tool = result["tool_summary"]
        record["latency_ms"] = {**latency_summary([]), **{k: v for k, v in tool["latency_ms"].items()
                                                            if k in ("p50", "p90", "p99", "mean", "std",
                                                                     "min", "max", "n")}}
        record["latency_source"] = f"{tool['tool']} summary (no raw samples)"
        record["tool_summary"] = tool
    record["measurement"] = measurement(record["latency_ms"], samples, result, requested)
    record["memory"] = memory(result)
    record["model_memory_mb"] = record["memory"]["model_memory_mb"]
    record["thermal"] = result.get("thermal")
    record["worker"] = {k: v for k, v in (result.get("worker") or {}).items()
                        if not k.endswith("_monotonic_ns")} or None
    if result.get("outputs_npy_b64") and reference is not None:
        add_parity(record, result, reference, labels)
    return samples, power_samples


def add_parity(record: dict, result: dict, reference: References | np.ndarray, labels: np.ndarray | None) -> None:
    """``parity_outputs`` (every output against the source's, judged by its kind), ``parity`` (the
    worst one) and ``accuracy`` (top-1 of the first output, where labels exist). An agent of wire
    schema 2 returns the first output only: then only that one is judged."""
    refs = reference if isinstance(reference, References) else References([np.asarray(reference)])
    encoded = result.get("eval_outputs_npy_b64") or [result["outputs_npy_b64"]]
    outputs = [decode_npy(b) for b in encoded][:len(refs.arrays)]
    per_output = output_parity.all_outputs(refs.names[:len(outputs)], refs.kinds[:len(outputs)], outputs,
                                           refs.arrays[:len(outputs)])
    record["parity_outputs"] = per_output
    record["parity"] = dict(output_parity.worst(per_output))
    if labels is not None:
        record["accuracy"] = accuracy(outputs[0], labels)


class References:
    """The source framework's outputs on the eval samples, in the model's output order, with each
    output's name and kind (``OutputDecl``); one unnamed logits output by default."""

    def __init__(self, arrays: list[np.ndarray], names: list[str] | None = None,
                 kinds: list[str] | None = None) -> None:
        self.arrays = arrays
        self.names = names or [f"output_{i}" if i else "output" for i in range(len(arrays))]
        self.kinds = kinds or ["logits"] * len(arrays)

    @classmethod
    def of(cls, model: Any, arrays: list[np.ndarray]) -> References:
        outputs = model.spec.outputs
        if len(outputs) != len(arrays):  # a model whose spec does not know its outputs: tensors
            return cls(arrays, None, ["logits" if i == 0 and len(arrays) == 1 else "tensor"
                                      for i in range(len(arrays))])
        return cls(arrays, [o.name for o in outputs], [o.kind for o in outputs])


def measurement(latency: dict, samples: list[int], result: dict, requested: dict | None) -> dict:
    """The ``measurement`` record: what was asked, what the agent did, and whether the CI target
    was met - recomputed from the raw samples, not taken on trust."""
    agent = result.get("measurement") or {}
    requested = dict(requested or {})
    target = requested.get("ci_target_pct")
    preset = requested.get("preset")
    timed_s = agent.get("timed_s")
    return {
        "preset": preset, "requested": requested or None,
        "warmup_runs": agent.get("warmup_runs"), "warmup_s": agent.get("warmup_s"),
        "timed_s": timed_s, "stop_reason": agent.get("stop_reason"),
        "ci_target_pct": target,
        # No raw samples (a native tool's summary only): nothing to judge the target on.
        "target_met": target_met(latency, target) if samples else None,
        "ci_checks": agent.get("ci_checks"),
        # how the reported interval was made, and the windows it was made from: their boundaries
        # as the agent reported them, the medians recomputed from the raw samples
        "ci_method": latency.get("ci_method"),
        "windows": _windows(agent, samples),
        "mlperf": (mlperf_singlestream(samples, timed_s, agent.get("stop_reason"))
                   if preset == "mlperf" else None),
    }


def _windows(agent: dict, samples: list[int]) -> list[dict] | None:
    """The timed windows (``start_index``, ``n``, ``median_ns`` from the raw samples, ``t_start_s``);
    None for a result without them (an old agent, the native runner)."""
    if not agent.get("windows") or not samples:
        return None
    medians = window_medians(samples, window_bounds({"measurement": agent}))
    return [{"start_index": int(w["start_index"]), "n": int(w["n"]), "median_ns": float(m),
             "t_start_s": w.get("t_start_s")} for w, m in zip(agent["windows"], medians, strict=True)]


def memory(result: dict) -> dict:
    """Raw memory figures in MB and the model's own share: the larger of the load and inference
    peaks minus the baseline (the worker with the runtime imported, before loading the model); the
    inference peak without the agent's own buffer of raw samples (8 bytes each)."""
    baseline = result.get("baseline_rss_bytes")
    inference = result.get("inference_peak_rss_bytes")
    if inference is not None:
        inference -= int(result.get("samples_buffer_bytes") or 0)
    peaks = [p for p in (result.get("load_peak_rss_bytes"), inference) if p is not None]
    model = max(0, max(peaks) - baseline) if peaks and baseline is not None else None
    return {"model_memory_mb": _mb(model), "empty_worker_rss_mb": _mb(result.get("empty_rss_bytes")),
            "baseline_rss_mb": _mb(baseline), "load_peak_rss_mb": _mb(result.get("load_peak_rss_bytes")),
            "inference_peak_rss_mb": _mb(result.get("inference_peak_rss_bytes")),
            "peak_rss_mb": _mb(result.get("peak_rss_bytes")),
            "samples_buffer_mb": _mb(result.get("samples_buffer_bytes")),
            "method": result.get("memory_method")}


def decode_npy(b64: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(b64)), allow_pickle=False)


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 2)
