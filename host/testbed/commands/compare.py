"""`testbed compare RUN_A RUN_B`: every cell of RUN_B judged against the same cell of RUN_A."""

from __future__ import annotations

import json
import sys

import click

from ..errors import TestbedError
from ._common import fail, out_console


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@click.option("--all-cells", is_flag=True, help="Show every cell, not only changes.")
def compare(run_a: str, run_b: str, db: str | None, as_json: bool, all_cells: bool) -> None:
    """Judge plan run RUN_B against RUN_A (the baseline): latency, size, memory, accuracy, energy.
    Exit status 1 when a cell regressed (or broke). Nothing is stored."""
    from ..engine.plan import from_dict
    from ..nightly.runner import compare_cells
    from ..report.verdict_table import render
    from ..store import Store
    from ..verdicts import COUNTS_AS_REGRESSION, Thresholds

    try:
        store = Store(db)
        a, b = store.find_plan_run(run_a), store.find_plan_run(run_b)
        plan = from_dict(b.plan, where=f"plan stored with run {b.id}")
        judged = compare_cells(store, b.id, a.id, Thresholds.from_plan(plan.verdict))
    except TestbedError as exc:
        fail(exc)
        return
    rows = []
    for cell, verdict in judged:
        lat = verdict.get("metrics", {}).get("latency", {})
        ci = lat.get("ci_pct") or [None, None]
        rows.append({"key": cell.key, "device": cell.device, "model": cell.model, "converter": cell.converter,
                     "threads": cell.threads, "state": cell.state, "error": cell.error,
                     "p50_ms": lat.get("current"), "baseline_p50_ms": lat.get("baseline"),
                     "latency_change_pct": lat.get("change_pct"), "latency_ci_low_pct": ci[0],
                     "latency_ci_high_pct": ci[1], "latency_p_value": lat.get("p_value"),
                     "verdict": verdict["verdict"], "verdict_reason": verdict["reason"], "metrics": verdict["metrics"],
                     "trust": ((verdict.get("trust") or {}).get("current") or {}).get("verdict"),
                     "trust_sides": verdict.get("trust")})  # testbed.trust of both sides (verdicts)
    regressions = sum(r["verdict"] in COUNTS_AS_REGRESSION for r in rows)
    if as_json:
        click.echo(json.dumps({"baseline": a.id, "run": b.id, "regressions": regressions, "cells": rows},
                              indent=2, default=str))
    else:
        render(rows, f"{b.id} vs {a.id} (baseline)", out_console(), only_changes=not all_cells)
    sys.exit(1 if regressions else 0)
