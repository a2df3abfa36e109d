"""`testbed report RUN`: a plan run's reports (CSV, Parquet, JUnit, HTML, or its verdict table and
framework verdict; ``--json``: both as one object).

Each cell shows its trust (``testbed.trust``: the least trustworthy of its repeats; the table's
``Trust`` column, the JSON cells' ``trust`` and ``trust_reason``), and a latency verdict on a result
that was not steady says so in its note (``verdicts.untrusted``).

Above the reports it writes: ``export`` (the rows every report shares), ``junit``, ``html``,
``verdict_table``; none of them imports this module, so the report package has no import cycle.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from .. import framework_verdict
from . import export
from . import html as html_report
from . import junit as junit_report
from .verdict_table import render


def plan_report(run_id: str, db: str | None, *, html: str | None = None, junit: str | None = None,
                csv: str | None = None, parquet: str | None = None, as_json: bool = False,
                out: Console | None = None) -> None:
    """`testbed report RUN [--html F] [--junit F] [--csv F] [--parquet F]`; none given: the verdict table
    and the framework verdict on ``out`` (default: a plain console on stdout), or with ``as_json`` one
    object: the run, its ``cells`` (the rows every report shares) and its ``framework_verdict``."""
    from ..store import Store

    store = Store(db)
    data = export.load_run(store, run_id)
    run = data.run
    say = Console(stderr=True, highlight=False)
    if parquet:
        export.write_parquet(data.rows, Path(parquet))
        say.print(f"wrote {parquet} ({len(data.rows)} cells)")
    if csv:
        export.write_csv(data.rows, Path(csv))
        say.print(f"wrote {csv} ({len(data.rows)} cells)")
    if junit:
        junit_report.write(data, Path(junit))
        say.print(f"wrote {junit} ({len(data.rows)} testcases)")
    if html:
        Path(html).write_text(html_report.render(store, run.id), encoding="utf-8")
        say.print(f"wrote {html}")
    if not (parquet or csv or junit or html):
        verdicts = framework_verdict.for_run(store, run.id)
        if as_json:
            print(json.dumps({"run": run.id, "kind": run.kind, "plan": run.plan_name, "status": run.status,
                              "baseline": run.baseline_id, "cells": data.rows,
                              "framework_verdict": [v.to_json() for v in verdicts]}, indent=2, default=str))
        else:
            console = out or Console()
            render(data.rows, f"run {run.id} of plan '{run.plan_name}' ({run.status}) vs "
                              f"{run.baseline_id or 'no baseline'}", console)
            console.print()
            for renderable in framework_verdict.render(verdicts, console.width):
                console.print(renderable)
