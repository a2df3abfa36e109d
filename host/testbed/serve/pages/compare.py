"""Two runs compared: every cell of run B judged against the same cell (key) of run A, as `testbed compare A B`
does (``nightly.runner.compare_cells``, B's plan's thresholds), computed for the page and not stored; when A
is B's own baseline, the verdicts `testbed run` stored are shown instead (the same figures, no wait)."""

from __future__ import annotations

from typing import Any

from ...store import Store
from .. import figures, queries
from ..links import Links
from . import render
from .run import find


def _choices(store: Store, links: Links) -> list[queries.RunRow]:
    return queries.recent_runs(store, limit=60) if links.live else []


def page(store: Store, links: Links, baseline_id: str | None, run_id: str | None) -> str:
    if not baseline_id or not run_id:
        return render("compare.html", links, store.url, title="compare two runs", a=None, b=None, rows=[],
                      figure=None, regressions=0, threshold=None, choices=_choices(store, links), has_figures=False)
    from ...engine.plan import from_dict
    from ...nightly.runner import compare_cells
    from ...verdicts import COUNTS_AS_REGRESSION, Thresholds

    a, b = find(store, baseline_id), find(store, run_id)
    thresholds = Thresholds.from_plan(from_dict(b.plan, where=f"plan stored with run {b.id}").verdict)
    cells = store.plan_cells(b.id)
    if b.baseline_id == a.id and all(c.verdict for c in cells):  # judged so when it was run: read, not redone
        judged = [(c, c.verdict or {}) for c in cells]
    else:
        judged = compare_cells(store, b.id, a.id, thresholds)
    rows: list[dict[str, Any]] = []
    changes = []
    for cell, verdict in judged:
        lat = (verdict.get("metrics") or {}).get("latency") or {}
        ci = lat.get("ci_pct") or [None, None]
        label = f"{cell.device}: {cell.model} {cell.converter}" + (f" t{cell.threads}" if cell.threads else "")
        rows.append({"label": label, "cell_id": cell.id, "state": cell.state, "verdict": verdict["verdict"],
                     "reason": verdict["reason"], "base_ms": lat.get("baseline"), "cur_ms": lat.get("current"),
                     "change_pct": lat.get("change_pct"), "ci": ci, "p_value": lat.get("p_value")})
        if lat.get("change_pct") is not None:
            changes.append(figures.Change(label, lat["change_pct"], ci[0], ci[1], verdict["verdict"],
                                          links.cell(cell.id)))
    figure = figures.changes(changes, thresholds.latency_pct, f"run {b.id} against {a.id}: median latency")
    return render("compare.html", links, store.url, title=f"{b.id} vs {a.id}", a=a, b=b, rows=rows, figure=figure,
                  regressions=sum(r["verdict"] in COUNTS_AS_REGRESSION for r in rows),
                  threshold=thresholds.latency_pct, choices=_choices(store, links), has_figures=True)
