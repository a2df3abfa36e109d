"""The verdict table on the terminal (`testbed run`, `testbed compare`, `testbed report`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..stats import fmt_p_value
from .table import fmt_num

STYLE = {"regressed": "bold red", "broken": "bold red", "improved": "green", "noisy": "yellow",
         "unchanged": "dim", "new": "cyan", "failed": "red", "missing": "yellow",
         "incomparable": "magenta"}  # measured differently: not judged (verdicts.environment)


def verdict_cell(verdict: str | None) -> str:
    if not verdict:
        return "–"
    return f"[{STYLE.get(verdict, '')}]{verdict}[/]"


def render(rows: list[dict], title: str, console: Console, only_changes: bool = False) -> None:
    """``rows`` as made by export.load_run (or compare): one per cell."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("Board", "left"), ("Model", "left"), ("Variant", "left"), ("Thr", "right"),
                          ("State", "left"), ("p50 (ms)", "right"), ("Base p50", "right"), ("Δ (%)", "right"),
                          ("95% CI (%)", "right"), ("p", "right"), ("Verdict", "left"), ("Why", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    shown = 0
    for r in rows:
        if only_changes and r.get("verdict") in ("unchanged", None) and r["state"] == "done":
            continue
        shown += 1
        lo, hi = r.get("latency_ci_low_pct"), r.get("latency_ci_high_pct")
        table.add_row(
            r["device"], r["model"], r["converter"], str(r["threads"] or "–"), r["state"],
            fmt_num(r.get("p50_ms"), ".4g"), fmt_num(r.get("baseline_p50_ms"), ".4g"),
            fmt_num(r.get("latency_change_pct"), "+.1f"),
            f"{lo:+.1f}..{hi:+.1f}" if lo is not None and hi is not None else "–",
            fmt_p_value(r.get("latency_p_value")),
            verdict_cell(r.get("verdict")),
            (r.get("verdict_reason") or r.get("error") or "")[:120])
    if shown:
        console.print(table)
    elif only_changes:
        console.print(f"{title}: every cell unchanged")
