"""The table `testbed convert` prints: one row per variant, units in the headers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .deploy_columns import agreement_cell, fmt_num
from .width import HEADER_RULE

COLUMNS = ["Variant", "Format", "Source", "Quant", "Status", "Size (KB)", "Convert (s)",
           "Parity max|Δ|", "Agreement", "Accuracy (%)", "Delegated nodes", "Cached"]


def _delegated(extra: dict) -> str:
    if "delegated_nodes" in extra and "total_nodes" in extra:
        return f"{extra['delegated_nodes']}/{extra['total_nodes']}"
    return "–"


def render(rows: list[dict], title: str, console: Console) -> None:
    table = Table(title=title, title_justify="left", box=HEADER_RULE)  # ASCII: fits in bytes too
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("Variant", "Format", "Source", "Quant", "Status")
                         else "right")
    for r in rows:
        par = r.get("parity") or {}
        table.add_row(
            r["converter"], r["format"], r["source"], r["quantization"],
            "[green]ok[/]" if r["status"] == "ok" else "[red]failed[/]",
            fmt_num(r["size_bytes"] / 1024 if r.get("size_bytes") else None, ".1f"),
            fmt_num(r.get("conversion_s"), ".1f"), fmt_num(par.get("max_abs_err"), ".1e"), agreement_cell(r),
            fmt_num(r["accuracy"] * 100 if r.get("accuracy") is not None else None, ".1f"),
            _delegated(r.get("extra") or {}), "yes" if r.get("cached") else "no")
    console.print(table)
    for r in rows:
        if r["status"] != "ok":
            console.print(f"[red]failed[/] {r['converter']}: {r.get('error')}")
    n = next((r["parity"]["n"] for r in rows if r.get("parity")), None)
    console.print(f"Parity and accuracy: each artifact run on this host in its runtime on {n or 'the'} real "
                  "inputs, against its source framework. Convert: wall time of the conversion when it ran.")
