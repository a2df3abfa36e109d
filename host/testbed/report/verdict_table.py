"""The verdict table on the terminal (`testbed run`, `testbed compare`, `testbed report`).

Beside each verdict, the cell's trust (``testbed.trust``, the least trustworthy of its repeats:
steady, noisy, throttled, contended); a latency change on a board that was not quiet is shown
``noisy`` and its note says why (``verdicts.untrusted``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..stats import fmt_p_value
from .width import HEADER_RULE, say

STYLE = {"regressed": "bold red", "broken": "bold red", "improved": "green", "noisy": "yellow",
         "unchanged": "dim", "new": "cyan", "failed": "red", "missing": "yellow",
         "incomparable": "magenta"}  # measured differently: not judged (verdicts.environment)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)  # ASCII: a byte-counting reader sees the width we do


def verdict_cell(verdict: str | None) -> str:
    if not verdict:
        return "-"
    return f"[{STYLE.get(verdict, '')}]{verdict}[/]"


def trust_cell(trust: str | None) -> str:
    if not trust:
        return "-"
    return trust if trust == "steady" else f"[yellow]{trust}[/]"


def render(rows: list[dict], title: str, console: Console, only_changes: bool = False) -> None:
    """``rows`` as made by export.load_run (or compare): one per cell.

    Fits the terminal: a board or model that is the same on every row goes into the title instead of a
    column, a variant's name never wraps, and the reasons are not a column: each is numbered in the
    table's "Note" and printed whole below it (wrapped, never cut), so a caveat such as ESTIMATED at the
    end of a reason is always there."""
    shown_rows = [r for r in rows if not (only_changes and r.get("verdict") in ("unchanged", None)
                                          and r["state"] == "done")]
    if not shown_rows:
        if only_changes:
            console.print(f"{title}: every cell unchanged")
        return
    boards = sorted({str(r["device"]) for r in shown_rows})
    models = sorted({str(r["model"]) for r in shown_rows})
    same = [f"board {boards[0]}"] * (len(boards) == 1) + [f"model {models[0]}"] * (len(models) == 1)
    table = Table(title=title + (f"  ({', '.join(same)})" if same else ""), title_justify="left", box=HEADER_RULE,
                  pad_edge=False, collapse_padding=True)
    columns = [("Board", "left")] * (len(boards) > 1) + [("Model", "left")] * (len(models) > 1) + [
        ("Variant", "left"), ("Thr", "right"), ("State", "left"), ("p50 ms", "right"), ("base ms", "right"),
        ("chg %", "right"), ("95% CI %", "right"), ("p", "right"), ("Verdict", "left"), ("Trust", "left"),
        ("Note", "right")]
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=name in ("Board", "Model", "Variant"))  # type: ignore[arg-type]
    notes: dict[str, int] = {}  # reason -> its number
    for r in shown_rows:
        lo, hi = r.get("latency_ci_low_pct"), r.get("latency_ci_high_pct")
        reason = (r.get("verdict_reason") or r.get("error") or "").strip()
        note = f"[{notes.setdefault(reason, len(notes) + 1)}]" if reason else ""
        table.add_row(
            *([r["device"]] * (len(boards) > 1)), *([r["model"]] * (len(models) > 1)),
            r["converter"], str(r["threads"] or "-"), r["state"],
            _num(r.get("p50_ms"), ".4g"), _num(r.get("baseline_p50_ms"), ".4g"),
            _num(r.get("latency_change_pct"), "+.1f"),
            f"{lo:+.1f}..{hi:+.1f}" if lo is not None and hi is not None else "-",
            fmt_p_value(r.get("latency_p_value")),
            verdict_cell(r.get("verdict")), trust_cell(r.get("trust")), note)
    console.print(table)
    for reason, number in notes.items():
        say(console, Text(f"[{number}] {reason}"), highlight=False)
