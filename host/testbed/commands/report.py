"""`testbed report`: reports on stored runs. ``--ops RUN_ID``: the per-op profiles of a deploy.

One command with one option per kind of report, so more kinds (e.g. an HTML report) can be added
as options beside ``--ops`` without changing how it is called.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import TestbedError
from ._common import err_console, fail, out_console


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--html", "html_path", type=click.Path(),
              help="Run RUN (plan or deploy) as HTML: FILE.html, one self-contained file (plots, verdicts; no "
                   "JavaScript); any other path, a directory of testbed serve's pages for RUN (interactive plots, "
                   "each cell's history, the comparison with its baseline; open DIR/index.html).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Plan run RUN as JUnit XML for CI (one testcase per cell).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Plan run RUN's cells as CSV.")
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False),
              help="Plan run RUN's cells as Parquet (needs pyarrow).")
@click.option("--ops", "ops_run", metavar="RUN_ID",
              help="Per-op profile tables of deploy RUN_ID (taken with `testbed deploy --profile-ops`).")
@click.option("--top", type=click.IntRange(1), default=15, show_default=True,
              help="How many ops to list (the rest are summed into one row).")
@click.option("--by", type=click.Choice(["node", "type"]), default="node", show_default=True,
              help="One row per op as executed (node) or per op type.")
@click.option("--runtime", "runtimes", multiple=True, help="Only these runtimes (repeatable).")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: RUN's cells and its framework verdict (PyTorch vs TensorFlow paths), or --ops' "
                   "reconciled tables.")
def report(run_id: str | None, html_path: str | None, junit_path: str | None, csv_path: str | None,
           parquet_path: str | None, ops_run: str | None, top: int, by: str, runtimes: tuple[str, ...],
           db: str | None, as_json: bool) -> None:
    """Reports on stored runs: a run RUN (`testbed run`, `testbed deploy`) with --html/--junit/--csv/--parquet
    (none: its verdict table and framework verdict; --html DIR: testbed serve's pages for it), or --ops RUN_ID
    (per-op profiles of a deploy)."""
    if run_id is not None:  # plan-run reports: testbed.report.plan_report; the dashboard's pages: testbed.serve
        from ..report.plan_report import plan_report

        pages_dir = html_path if html_path and _is_directory(html_path) else None
        html_file = None if pages_dir else html_path
        try:
            if pages_dir:
                _write_pages(run_id, db, pages_dir)
            if not pages_dir or html_file or junit_path or csv_path or parquet_path:
                plan_report(run_id, db, html=html_file, junit=junit_path, csv=csv_path, parquet=parquet_path,
                            as_json=as_json, out=out_console())
        except TestbedError as exc:
            fail(exc)
        if ops_run is None:
            return
    elif html_path or junit_path or csv_path or parquet_path:
        raise click.UsageError("--html/--junit/--csv/--parquet report on a plan run: testbed report RUN --html FILE")
    if ops_run is None:
        raise click.UsageError("say which report: RUN with --html/--junit/--csv/--parquet, or --ops RUN_ID")
    try:
        _ops_report(ops_run, top, by, set(runtimes), db, as_json)
    except TestbedError as exc:
        fail(exc)


def _is_directory(path: str) -> bool:
    """``--html``'s PATH names a directory (the dashboard's pages), not one file: it is one, or it does not
    end in .html/.htm."""
    from pathlib import Path

    return Path(path).is_dir() or Path(path).suffix.lower() not in (".html", ".htm")


def _write_pages(run_id: str, db: str | None, directory: str) -> None:
    """`testbed report RUN --html DIR`: the run's pages as `testbed serve` shows them, as files."""
    from pathlib import Path

    from ..serve.export import write_run
    from ..store import Store

    pages = write_run(Store(db), run_id, Path(directory))
    err_console.print(f"wrote {pages[0]} and {len(pages) - 1} more pages (open it in a browser, or serve "
                      f"{directory} with any web server)", highlight=False, soft_wrap=True)


def _ops_report(run_id: str, top: int, by: str, runtimes: set[str], db: str | None,
                as_json: bool) -> None:
    from .. import opsreport
    from ..errors import ConfigError
    from ..store import Store

    store = Store(db)
    results = store.results(run_id)
    if not results:
        raise ConfigError(f"no results stored for run {run_id} in {store.url} "
                          "(the run id is printed by `testbed deploy`)")
    shown: list[dict[str, Any]] = []
    for result in results:
        if runtimes and result.runtime not in runtimes:
            continue
        record = result.record or {}
        title = (f"{record.get('model')} {result.converter} [{result.runtime}, "
                 f"{record.get('runner') or '?'} runner]")
        if result.status != "ok":
            continue
        table = getattr(result, "ops", None)
        if table is None:
            rec: dict[str, Any] = {"available": False,
                                   "reason": "no per-op profile stored (deploy with --profile-ops)"}
        else:
            p50 = (record.get("latency_ms") or {}).get("p50")
            rec = opsreport.reconcile(table, p50, top=top, by=by)
        shown.append({"converter": result.converter, "runtime": result.runtime, "title": title, **rec})
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    console = out_console()
    for rec in shown:
        opsreport.render(rec, rec["title"], console)
        console.print()
    if not any(rec.get("available") for rec in shown):
        err_console.print(f"no per-op profiles in run {run_id}; deploy with --profile-ops")
