"""The comparison table `testbed deploy` prints: one row per artifact, units in the headers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

COLUMNS = [
    ("Variant", "left"), ("Runtime", "left"), ("Status", "left"),
    ("Size (KB)", "right"), ("Load (ms)", "right"), ("p50 (ms)", "right"), ("p90 (ms)", "right"),
    ("p99 (ms)", "right"), ("n", "right"), ("Peak RSS (MB)", "right"), ("Accuracy (%)", "right"),
    ("Parity max|Δ|", "right"), ("Top-1 agree (%)", "right"), ("Power (W)", "right"),
    ("Energy (mJ/inf)", "right"), ("Cached", "left"),
]


def fmt_num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def row_cells(r: dict) -> list[str]:
    lat = r.get("latency_ms") or {}
    par = r.get("parity") or {}
    ok = r["status"] == "ok"
    return [
        r["converter"], r["runtime"],
        "[green]ok[/]" if ok else "[red]failed[/]",
        fmt_num(r["size_bytes"] / 1024 if r.get("size_bytes") else None, ".1f"),
        fmt_num(r.get("load_ms"), ".1f"), fmt_num(lat.get("p50"), ".3f"), fmt_num(lat.get("p90"), ".3f"),
        fmt_num(lat.get("p99"), ".3f"), str(lat.get("n") or "–"), fmt_num(r.get("peak_rss_mb"), ".0f"),
        fmt_num(r["accuracy"] * 100 if r.get("accuracy") is not None else None, ".1f"),
        fmt_num(par.get("max_abs_err"), ".1e"),
        fmt_num(par["top1_agreement"] * 100 if par.get("top1_agreement") is not None else None, ".1f"),
        *power_cells(r.get("power")),
        "yes" if r.get("cached") else "no",
    ]


def power_cells(power: dict | None) -> tuple[str, str]:
    """Active watts and net energy per inference; estimates are marked 'est.' in the cell itself."""
    if not power or power.get("active_w") is None:
        return "–", "–"
    mark = " est." if power.get("estimated") else ""
    return (fmt_num(power["active_w"], ".2f") + mark,
            fmt_num(power.get("energy_mj_per_inference"), ".4g") + mark)


def render(rows: list[dict], title: str, console: Console) -> None:
    table = Table(title=title, title_justify="left")
    for name, justify in COLUMNS:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(*row_cells(r))
    console.print(table)
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        console.print(f"[red]failed[/] {r['converter']} ({r['runtime']}): {r.get('error')}")
    _power_notes(rows, console)
    console.print("Latency: per inference, batch 1, after warm-up; p50/p90/p99 from the raw samples (n). "
                  "Peak RSS: the measuring worker process. Parity: against the source framework on the same "
                  "inputs.")


def _power_notes(rows: list[dict], console: Console) -> None:
    powers = [r["power"] for r in rows if r.get("power")]
    if not powers:
        return
    measured = [p for p in powers if p.get("active_w") is not None]
    if measured:
        p = measured[0]
        kind = ("[yellow]ESTIMATED[/] (a model, not a measurement): " if p.get("estimated")
                else "measured: ")
        console.print(f"Power: sensor {p.get('sensor')}, {kind}{p.get('what') or ''}. "
                      "Energy per inference is net of the idle baseline.")
    else:
        console.print(f"Power: not measured - {powers[0].get('missing_reason')}")
