"""One cell (board x model x variant x threads) across the runs of its plan: the median latency of every
night with its repeats' spread, regressions ringed in red, the distributions of the latest nights
side by side, and a table of every night with its verdict."""

from __future__ import annotations

import numpy as np

from ...store import Store
from .. import figures, queries
from ..links import Links
from . import NotFound, render

NIGHTS_DRAWN = 12  # the distributions of this many latest measured nights (raw samples read)


def page(store: Store, links: Links, cell_id: int) -> str:
    ref = queries.cell(store, cell_id)
    if ref is None:
        raise NotFound(f"no cell {cell_id} in {store.url}; a run's page links its cells")
    points = queries.history(store, ref.plan_name, [ref.key])[ref.key]
    urls = [links.run(p.run_id) for p in points]
    fig = figures.history([figures.Line(ref.label, points, urls)],
                          f"{ref.device}: {ref.label}, median latency across runs of {ref.plan_name}")
    measured = [p for p in points if p.median_ms is not None][-NIGHTS_DRAWN:]
    results = store.cell_results(p.cell_id for p in measured)
    dists = []
    for p in measured:
        runs = [np.asarray(r.samples_ns, dtype=np.float64) / 1e6 for r in results[p.cell_id]
                if r.status == "ok" and r.samples_ns]
        if runs:
            dists.append(figures.Distribution(f"{p.created_at:%Y-%m-%d %H:%M} · {p.run_id}", np.concatenate(runs)))
    spread = figures.latency_distributions(dists, f"{ref.label}: latency per inference, the latest nights",
                                           name="that night")
    return render("cell.html", links, store.url, title=f"{ref.label} on {ref.device}", cell=ref,
                  points=list(reversed(points)), history=fig, spread=spread, has_figures=True)
