"""`testbed run`: a plan across the farm, every board in parallel, verdicts against the baseline."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from ..errors import TestbedError
from ._common import err_console, fail, out_console

if TYPE_CHECKING:
    from ..store import Store


@click.command()
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False), help="Plan file (plans/*.yaml).")
@click.option("--resume", "resume_id", metavar="RUN", help="Finish an interrupted run: redo only its unfinished cells.")
@click.option("--baseline", metavar="RUN", help="Judge against this run (default: the last good run of the plan).")
@click.option("--list", "list_runs", is_flag=True, help="List recent plan runs and exit.")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome and the cell rows as JSON.")
@click.option("--all-cells", is_flag=True, help="Show every cell in the verdict table, not only changes.")
@click.option("--engine", type=click.Choice(["threads", "celery"]),
              help="Where cells run (default: the plan's engine, threads): celery = the `testbed worker`s "
                   "of the lab (broker: $TESTBED_BROKER or the lab file).")
def run(plan_path: str | None, resume_id: str | None, baseline: str | None, list_runs: bool, db: str | None,
        as_json: bool, all_cells: bool, engine: str | None) -> None:
    """Run a PLAN on its boards (or --resume RUN). Exit status: 0 clean, 1 regressions, 3 incomplete
    (a board bad/busy/lost, cells skipped or in error, or interrupted), 2 usage/config error."""
    from ..engine.ui import LineUI, RichUI
    from ..nightly import load_plan, resume, start
    from ..paths import home
    from ..quiet import tool_output_to
    from ..report.export import load_run
    from ..report.verdict_table import render
    from ..store import Store

    if list_runs:
        try:
            _list(Store(db))
        except TestbedError as exc:
            fail(exc)
        return
    if bool(plan_path) == bool(resume_id):
        fail(TestbedError("give exactly one of --plan FILE or --resume RUN"))
        return
    if resume_id and engine:
        fail(TestbedError("--engine goes with --plan; a resumed run keeps the engine of its stored plan"))
        return
    if resume_id and baseline:
        fail(TestbedError("--baseline goes with --plan; a resumed run keeps its baseline "
                          "(`testbed compare` judges against any run)"))
        return
    try:
        plan = load_plan(plan_path) if plan_path else None
        if plan is not None and engine is not None:
            plan.engine = engine  # type: ignore[assignment]  # click.Choice: one of the Literal's values
        if plan is not None and plan.engine == "celery" and not db:
            from ..engine.celery_app import lab_db

            db = lab_db()  # $TESTBED_DB, else the lab file's db: the store the workers write to
        store = Store(db)
        with tool_output_to(home() / "logs" / "tools.log") as ui_file:
            from rich.console import Console

            console = Console(file=ui_file, highlight=False)
            live = console.is_terminal and not as_json
            rich_ui = RichUI(console) if live else None
            ui: RichUI | LineUI = rich_ui if rich_ui is not None else LineUI(console)
            progress = ui.message
            if rich_ui is not None:
                rich_ui.__enter__()
            try:
                if plan is not None:
                    outcome = start(plan, store, baseline=baseline, ui=ui, progress=progress)
                else:
                    outcome = resume(resume_id or "", store, ui=ui, progress=progress)
            finally:
                if rich_ui is not None:
                    rich_ui.__exit__(None, None, None)
        data = load_run(store, outcome.run_id)
    except TestbedError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps({"run_id": outcome.run_id, "status": outcome.status, "baseline": outcome.baseline_id,
                               "counts": outcome.counts, "verdicts": outcome.verdicts,
                               "regressions": outcome.regressions, "exit_code": outcome.exit_code,
                               "boards": {k: {"status": s, "reason": r} for k, (s, r) in outcome.boards.items()},
                               "cells": data.rows}, indent=2, default=str))
    else:
        console = out_console()
        render(data.rows, f"run {outcome.run_id} of plan '{data.run.plan_name}' vs "
                          f"{outcome.baseline_id or 'no baseline'}", console, only_changes=not all_cells)
        for device, (status, reason) in outcome.boards.items():
            if status != "ok":
                console.print(f"[red]board {device}: {status}[/] - {reason}", highlight=False, soft_wrap=True)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts.items()))
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(outcome.verdicts.items()))
        console.print(f"run {outcome.run_id}: {outcome.status}; cells: {counts}; verdicts: {verdicts}. "
                      f"Stored in {store.url}. Report: `testbed report {outcome.run_id} --html report.html`",
                      highlight=False, soft_wrap=True)
        if outcome.exit_code == 3:
            err_console.print(f"incomplete: `testbed run --resume {outcome.run_id}` redoes only the missing cells")
        if outcome.regressions:
            err_console.print(f"[red]{outcome.regressions} regression(s)[/] against {outcome.baseline_id}")
    sys.exit(outcome.exit_code)


def _list(store: Store) -> None:
    console = out_console()
    found = store.plan_runs(limit=30)
    if not found:
        console.print(f"no runs in {store.url} yet (`testbed runs` lists deploys and plan runs together)",
                      highlight=False, soft_wrap=True)
    for r in found:
        console.print(f"{r.id}  {r.plan_name:<16} {r.status:<12} baseline {r.baseline_id or '–':<20} "
                      f"regressions {r.regressions if r.regressions is not None else '–'}  host {r.host}",
                      highlight=False)
