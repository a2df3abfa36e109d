"""`testbed runs`: the stored runs, deploys and plan runs alike, newest first."""

from __future__ import annotations

import json

import click

from ..errors import TestbedError
from ._common import fail, out_console


@click.command()
@click.option("--limit", type=click.IntRange(1), default=30, show_default=True, help="How many runs to list.")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs(limit: int, db: str | None, as_json: bool) -> None:
    """List runs: id, kind (deploy / plan), boards, models, status, started, cells done/total.
    `testbed deploy --resume RUN` or `testbed run --resume RUN` finishes one that was interrupted."""
    from rich.table import Table

    from ..report.width import HEADER_RULE
    from ..store import Store

    try:
        store = Store(db)
        rows = store.run_summaries(limit)
        old = [{"id": d.id, "kind": "deploy (old)", "status": d.status, "created_at": d.created_at,
                "devices": [d.device], "models": [d.model], "done": None, "total": None}
               for d in store.standalone_deployments(limit)]
    except TestbedError as exc:
        fail(exc)
        return
    rows = sorted(rows + old, key=lambda r: r["created_at"], reverse=True)[:limit]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    console = out_console()
    if not rows:
        console.print(f"no runs in {store.url} yet: `testbed deploy` or `testbed run --plan` make one",
                      highlight=False, soft_wrap=True)
        return
    table = Table(title=f"runs in {store.url}", title_justify="left", box=HEADER_RULE)  # ASCII: fits in bytes too
    for column in ("Run", "Kind", "Device(s)", "Model(s)", "Status", "Started (UTC)", "Cells done"):
        table.add_column(column)
    for r in rows:
        cells = "–" if r["total"] is None else f"{r['done']}/{r['total']}"
        table.add_row(r["id"], r["kind"], ", ".join(r["devices"]), ", ".join(r["models"]), r["status"],
                      r["created_at"].strftime("%Y-%m-%d %H:%M:%S"), cells)
    console.print(table)
