"""A plan run as rows (one per cell), shared by every report; CSV and Parquet export.

Latency figures are recomputed from the raw samples of every repeat of the cell, pooled. Verdict
columns are the ones stored by `testbed run` (against the run's baseline).
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..stats import latency_summary

COLUMNS = [
    "run_id", "plan", "device", "model", "converter", "format", "source", "quantization", "runtime", "threads",
    "key", "state", "error", "repeats", "runs_measured", "size_bytes", "p50_ms", "p90_ms", "p99_ms", "mean_ms",
    "n_samples", "load_ms", "peak_rss_mb", "accuracy", "energy_mj_per_inference", "power_sensor",
    "power_estimated", "emulated", "verdict", "verdict_reason", "latency_change_pct", "latency_ci_low_pct",
    "latency_ci_high_pct", "latency_p_value", "baseline_run_id", "baseline_p50_ms", "wall_s",
    "trust", "trust_reason", "achieved_gflops", "pct_of_peak", "bound",
]
#: The trust verdicts from the least to the most trustworthy: a cell of several repeats shows its worst.
TRUST_ORDER = ("throttled", "contended", "noisy", "steady")


@dataclass
class RunData:
    run: Any  # PlanRun
    boards: list[Any]  # PlanBoard
    rows: list[dict]  # one per cell, COLUMNS
    samples_ms: dict[str, list[np.ndarray]]  # cell key -> raw latency per repeat, ms


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _wall_s(cell: Any, recs: list[dict]) -> float | None:
    """Seconds the cell took: its records' ``wall_s`` summed over the repeats (schema 5: from each
    measurement request to its record); a cell without them (not measured, older records) the time
    from its start to its end in the store; None when it never started."""
    walls = [rec["wall_s"] for rec in recs if rec.get("wall_s") is not None]
    if walls:
        return float(sum(walls))
    if cell.started_at is not None and cell.finished_at is not None:
        return max(0.0, (cell.finished_at - cell.started_at).total_seconds())
    return None


def _worst_trust(recs: list[dict]) -> dict:
    """The least trustworthy verdict of a cell's measured repeats (``testbed.trust``); {} without one."""
    verdicts = [rec["trust"] for rec in recs if rec.get("status") == "ok" and (rec.get("trust") or {}).get("verdict")]
    rank = {name: i for i, name in enumerate(TRUST_ORDER)}
    return min(verdicts, key=lambda t: rank.get(t["verdict"], -1), default={})


def _roofline(recs: list[dict]) -> dict:
    """The roofline figures of a cell: the median of its measured repeats' achieved GFLOP/s and % of peak."""
    roofs = [rec["roofline"] for rec in recs if rec.get("status") == "ok" and rec.get("roofline")]
    return {"achieved_gflops": _median([r["achieved_gflops"] for r in roofs if r.get("achieved_gflops") is not None]),
            "pct_of_peak": _median([r["pct_of_peak"] for r in roofs if r.get("pct_of_peak") is not None]),
            "bound": next((r["bound"] for r in roofs if r.get("bound")), None)}


def load_run(store: Any, run_id: str) -> RunData:
    run = store.find_plan_run(run_id)
    cells = store.plan_cells(run.id)
    results = store.cell_results(c.id for c in cells)
    rows, samples = [], {}
    for c in cells:
        res = [r for r in results[c.id] if r.status == "ok"]
        runs = [np.asarray(r.samples_ns, dtype=np.float64) / 1e6 for r in res if r.samples_ns]
        samples[c.key] = runs
        lat = latency_summary([int(x) for r in res for x in r.samples_ns]) if res else latency_summary([])
        recs = [r.record or {} for r in results[c.id]]
        power = [rec.get("power") or {} for rec in recs if rec.get("status") == "ok"]
        energy = [p["energy_mj_per_inference"] for p in power if p.get("energy_mj_per_inference") is not None]
        verdict = c.verdict or {}
        latv = (verdict.get("metrics") or {}).get("latency") or {}
        ci = latv.get("ci_pct") or [None, None]
        rows.append({
            "run_id": run.id, "plan": run.plan_name, "device": c.device, "model": c.model, "converter": c.converter,
            "format": c.format, "source": c.source, "quantization": c.quantization, "runtime": c.runtime,
            "threads": c.threads, "key": c.key, "state": c.state, "error": c.error, "repeats": c.repeats,
            "runs_measured": len(res),
            "size_bytes": next((rec.get("size_bytes") for rec in recs if rec.get("size_bytes")), None),
            "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"], "mean_ms": lat["mean"],
            "n_samples": lat["n"],
            "load_ms": _median([rec["load_ms"] for rec in recs if rec.get("load_ms") is not None]),
            "peak_rss_mb": _median([rec["peak_rss_mb"] for rec in recs if rec.get("peak_rss_mb") is not None]),
            "accuracy": next((rec["accuracy"] for rec in recs if rec.get("accuracy") is not None), None),
            "energy_mj_per_inference": _median(energy),
            "power_sensor": next((p.get("sensor") for p in power if p.get("sensor")), None),
            "power_estimated": any(p.get("estimated") for p in power) if power else None,
            "emulated": next(((rec.get("measurement") or {}).get("emulated") for rec in recs
                              if (rec.get("measurement") or {}).get("emulated")), None),
            "verdict": verdict.get("verdict"), "verdict_reason": verdict.get("reason"),
            "latency_change_pct": latv.get("change_pct"), "latency_ci_low_pct": ci[0],
            "latency_ci_high_pct": ci[1], "latency_p_value": latv.get("p_value"),
            "baseline_run_id": run.baseline_id,
            "baseline_p50_ms": latv.get("baseline"),  # ms
            "wall_s": _wall_s(c, recs),
            "trust": (trust := _worst_trust(recs)).get("verdict"),
            "trust_reason": "; ".join(trust.get("reasons") or []) or None,
            **_roofline(recs),
        })
    return RunData(run=run, boards=store.plan_boards(run.id), rows=rows, samples_ms=samples)


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in COLUMNS})


def write_parquet(rows: list[dict], path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise ConfigError("--parquet needs pyarrow, which is not installed: `pip install pyarrow` "
                          "(or export with --csv)")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{k: row.get(k) for k in COLUMNS} for row in rows])
    pq.write_table(table, path)

