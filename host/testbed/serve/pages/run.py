"""One run (a plan run or a deploy): its table, per board the latency distributions, the size/latency
Pareto front and the history of its cells across the runs of its plan, and the framework verdict.

The rows are the reports' (``report.export.load_run``: latency recomputed from the raw samples of
every repeat, the verdicts `testbed run` stored against the run's baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import framework_verdict
from ...errors import ConfigError, TestbedError
from ...report.export import RunData, load_run
from ...store import Store
from .. import figures, queries
from ..links import Links
from . import NotFound, render


@dataclass
class BoardSection:
    device: str
    distributions: figures.Figure | None
    pareto: figures.Figure | None
    front: list[figures.Variant]
    history: figures.Figure | None


@dataclass
class FrameworkSection:
    """The framework verdict (``testbed.framework_verdict``): per (model, board) its paragraph, its pairs
    (``to_json()``'s) and their ratios drawn."""

    verdicts: list[dict[str, Any]] = field(default_factory=list)  # {"device", "model", "summary", "pairs", "figure"}
    note: str = ""


#: framework sections of finished runs (a bootstrap per pair: seconds), by what would change them
_FRAMEWORK_CACHE: dict[tuple[Any, ...], FrameworkSection] = {}
_FRAMEWORK_CACHE_SIZE = 64


def find(store: Store, run_id: str) -> Any:
    """The run, or NotFound."""
    try:
        return store.find_plan_run(run_id)
    except ConfigError as exc:
        raise NotFound(str(exc)) from exc


def labeller(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any]], str]:
    """``row -> label``: the variant, with the model where the rows hold several and the threads where they
    differ (short labels: they go on plot axes)."""
    models = len({r["model"] for r in rows}) > 1
    threads = len({r.get("threads") for r in rows}) > 1

    def label(row: dict[str, Any]) -> str:
        return ((f"{row['model']} " if models else "") + row["converter"]
                + (f" t{row['threads'] or 'default'}" if threads else ""))
    return label


def _pooled(runs: list[np.ndarray] | None) -> np.ndarray | None:
    return np.concatenate(runs) if runs else None


def board_section(store: Store, links: Links, data: RunData, device: str, cell_ids: dict[str, int],
                  baseline: dict[str, list[np.ndarray]]) -> BoardSection:
    rows = [r for r in data.rows if r["device"] == device]
    label = labeller(rows)
    dists = [figures.Distribution(label(r), current, _pooled(baseline.get(r["key"])))
             for r in rows if (current := _pooled(data.samples_ms.get(r["key"]))) is not None]
    variants = [figures.Variant(label(r), r["size_bytes"] / 1024, r["p50_ms"], links.cell(cell_ids[r["key"]]))
                for r in rows if r.get("size_bytes") and r.get("p50_ms")]
    pareto, front = figures.size_latency(variants, f"{device}: artifact size vs median latency (log-log)")
    keys = {r["key"]: label(r) for r in rows}
    nights = queries.history(store, data.run.plan_name, list(keys), until=data.run.created_at)
    lines = [figures.Line(keys[k], pts, [links.run(p.run_id) for p in pts]) for k, pts in nights.items()]
    return BoardSection(
        device=device,
        distributions=figures.latency_distributions(dists, f"{device}: latency per inference"),
        pareto=pareto, front=front,
        history=figures.history(lines, f"{device}: median latency across runs of {data.run.plan_name}"))


def framework_section(store: Store, run: Any) -> FrameworkSection:
    """The verdicts of ``framework_verdict.for_run``. A finished run's section is kept (its verdicts cannot
    change until it is resumed)."""
    key = (store.url, run.id, run.status, run.finished_at)
    if key in _FRAMEWORK_CACHE:
        return _FRAMEWORK_CACHE[key]
    try:
        verdicts = framework_verdict.for_run(store, run.id)
    except TestbedError as exc:
        return FrameworkSection(note=f"no framework verdict: {exc}")
    out = []
    for verdict in verdicts:
        pairs = list(verdict.to_json().get("pairs") or [])
        ratios = [figures.Ratio(_pair_label(p), p["ratio"], tuple(p["ci"]) if p.get("ci") else None, p["verdict"])
                  for p in pairs if p.get("ratio")]
        out.append({"device": verdict.device, "model": verdict.model, "summary": verdict.summary(), "pairs": pairs,
                    "figure": figures.framework_ratios(ratios, f"{verdict.device}, {verdict.model}: which "
                                                               "framework's path is faster")})
    section = FrameworkSection(out, note="" if out else "no PyTorch/TensorFlow pair in this run")
    if run.status != "running":
        if len(_FRAMEWORK_CACHE) >= _FRAMEWORK_CACHE_SIZE:
            _FRAMEWORK_CACHE.pop(next(iter(_FRAMEWORK_CACHE)))
        _FRAMEWORK_CACHE[key] = section
    return section


def _pair_label(pair: dict[str, Any]) -> str:
    return (f"t{pair['threads']} " if pair.get("threads") is not None else "") + str(pair.get("label"))


def page(store: Store, links: Links, run_id: str) -> str:
    run = find(store, run_id)
    data = load_run(store, run.id)
    cell_ids = {c.key: c.id for c in store.plan_cells(run.id)}
    baseline = load_run(store, run.baseline_id).samples_ms if run.baseline_id else {}
    states: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for r in data.rows:
        r["cell_id"] = cell_ids[r["key"]]
        states[r["state"]] = states.get(r["state"], 0) + 1
        if r.get("verdict"):
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    devices = list(dict.fromkeys(r["device"] for r in data.rows))
    title = (f"deploy of {', '.join(run.plan.get('models') or [])} on {', '.join(devices)}" if run.kind == "deploy"
             else f"plan {run.plan_name}")
    return render("run.html", links, store.url, title=f"{title}: run {run.id}", heading=title, run=run, data=data,
                  states=states, verdicts=verdicts, framework=framework_section(store, run),
                  show={k: any(r.get(k) is not None for r in data.rows)
                        for k in ("accuracy", "energy_mj_per_inference", "peak_rss_mb", "baseline_p50_ms", "verdict",
                                  "trust", "pct_of_peak")}
                  | {"models": len({r["model"] for r in data.rows}) > 1,
                     "threads": len({r["threads"] for r in data.rows}) > 1},
                  sections=[board_section(store, links, data, d, cell_ids, baseline) for d in devices],
                  has_figures=True)
