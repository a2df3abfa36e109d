"""The comparison table `testbed deploy` prints: one row per measured variant, units in the headers,
and below it the variants that failed (one entry each, with the reason) and the notes that say how
to read the figures.

Every line fits the console (a terminal's width, or ``$COLUMNS``), counted in cells and in UTF-8
bytes (``report.width``): headers stack their unit (and an ``est.`` caveat) under their name when
that is enough, else the default columns (``deploy_columns.DEFAULT``) drop their least important
ones and say which. The variant's name never wraps: the other columns give way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..rerun_spread import MIN_DF, own_ci_pct
from .deploy_columns import COLUMNS, CORE, DEFAULT, TRUST_STYLE, Column, default_columns, fmt_num
from .width import HEADER_RULE, extra_bytes, say, widest_line


def render(rows: list[dict], title: str, console: Console, columns: list[Column] | None = None) -> None:
    """Print the title, the measured rows as a table of ``columns`` (None: the default set, fitted to
    the console), the failed variants below it and the notes."""
    say(console, Text(title, style="bold"))
    measured = [r for r in rows if r["status"] == "ok"]
    layout = fit(measured, columns, console.width) if measured else Layout()
    for i, table in enumerate(layout.tables):
        if i:
            console.print()
        console.print(table)
    if layout.left_out:
        say(console, f"Not shown for lack of width ({console.width} columns): "
                     f"{', '.join(c.key for c in layout.left_out)}; --columns or --wide shows them.",
                     highlight=False)
    _failures(rows, console)
    _emulated_notes(rows, console)
    _percentile_notes(rows, console)
    _power_notes(rows, console)
    _measurement_notes(rows, console)
    _spread_notes(rows, console)
    _thermal_notes(rows, console)
    _trust_notes(rows, console)
    legend = [text for key, text in LEGEND.items() if any(c.key in key.split("|") for c in layout.shown)]
    if legend:
        say(console, "; ".join(legend) + ".", highlight=False)


#: What the columns mean, printed below the table for the columns it shows ("a|b": either of them).
LEGEND = {
    "p50|p90|p99|n": "Latency: per inference, batch 1, after warm-up; p50/p90/p99 from the raw samples (n)",
    "ci": "±CI: half-width of the 95 % interval a rerun's median is expected in (Student t on the medians of "
          "the run's windows, or of its fresh workers with --repeats; one-window records: the CI of the median by "
          "order statistics; at least the board's run-to-run spread once the store has reruns), % of p50",
    "target": "Target met: whether the run's own ±CI is within its target",
    "model-mem": "Model mem: peak RSS while loading and running minus the worker with the runtime imported",
    "peak-rss": "Peak RSS: the whole measuring worker",
    "trust": "Trust: steady, or why the figure may not hold (noisy, throttled, contended: notes above)",
    "gflops|peak-pct": "GFLOP/s: FLOPs counted from the graph over p50; % of peak: of the board's measured peak "
                       "(C compute-bound, M memory-bound)",
    "parity|agreement": "Parity |Δ| (largest absolute difference) and Agreement (top-1 % for logits, the lowest "
                        "cosine for embeddings, IoU for boxes): against the source framework on the same inputs",
}


@dataclass
class Layout:
    """The tables that show the measured rows, the columns they show, the default ones left out."""

    tables: list[Table] = field(default_factory=list)
    shown: list[Column] = field(default_factory=list)
    left_out: list[Column] = field(default_factory=list)


def fit(rows: list[dict], columns: list[Column] | None, width: int) -> Layout:
    """The tables of ``rows`` within ``width``, and the default columns left out to get there.

    One-line headers if they fit, else stacked ones. The default set then drops its lowest-priority
    columns until it fits; columns the user chose (``--columns``, ``--wide``) are all kept: split
    into several tables, each starting with the variant."""
    if columns is None:
        shown, left_out = default_columns(rows), list[Column]()
        while (table := _within(rows, shown, width)) is None and len(shown) > CORE:
            last = max((c for c in shown if DEFAULT.index(c.key) >= CORE), key=lambda c: DEFAULT.index(c.key))
            shown = [c for c in shown if c is not last]
            left_out.insert(0, last)
        return Layout([table or build(rows, shown, stacked=True)], shown, left_out)
    groups: list[list[Column]] = [[columns[0]]]
    for column in columns[1:]:
        if len(groups[-1]) > 1 and _within(rows, [*groups[-1], column], width) is None:
            groups.append([columns[0]])
        groups[-1].append(column)
    return Layout([_within(rows, group, width) or build(rows, group, stacked=True) for group in groups], columns)


def _within(rows: list[dict], columns: list[Column], width: int) -> Table | None:
    """The table with one-line headers, or stacked ones, whichever first fits ``width``; None: neither."""
    for stacked in (False, True):
        table = build(rows, columns, stacked)
        if widest_line(table) <= width:
            return table
    return None


def build(rows: list[dict], columns: list[Column], stacked: bool = False) -> Table:
    """The table itself: header parts on one line, or one per line (``stacked``)."""
    table = Table(box=HEADER_RULE, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for column in columns:
        parts = column.parts(rows)
        table.add_column("\n".join(parts) if stacked else " ".join(parts), justify=column.justify,
                         no_wrap=column.key == "variant", overflow="fold")
    for cells in zip(*(column.cells(rows) for column in columns), strict=True):
        table.add_row(*cells)
    return table


def row_cells(r: dict, columns: list[Column] = COLUMNS) -> list[str]:
    """One record's cells (every column by default)."""
    return [c.cells([r])[0] for c in columns]


def _failures(rows: list[dict], console: Console) -> None:
    """The variants that were not measured, below the table: the name, then the reason wrapped beside it."""
    failed = [r for r in rows if r["status"] != "ok"]
    if not failed:
        return
    say(console, f"[red]Failed[/] ({len(failed)} of {len(rows)} variants, not in the table):", highlight=False)
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for r in failed:
        state = "" if r["status"] == "failed" else f" {r['status']}"
        grid.add_row(Text(f"  {r['converter']} ({r['runtime']}{state}):"), Text(str(r.get("error") or "no reason")))
    console.print(grid, width=max(console.width - max(extra_bytes(r.get("error") or "") for r in failed), 20))


def _emulated_notes(rows: list[dict], console: Console) -> None:
    emulated = {(r.get("measurement") or {}).get("emulated") for r in rows}
    how = sorted(e for e in emulated if e is not None)
    if how:
        say(console, f"[yellow]EMULATED board[/] ({'; '.join(how)}): latency, memory and load times are "
                     "the emulator's, not a real board's; compare them only with each other.")


def withheld_percentiles(latency: dict) -> list[str]:
    """The tail percentiles left out of a latency summary for too few samples (record v4)."""
    n, min_n = latency.get("n") or 0, latency.get("percentile_min_n") or {}
    return [name for name, need in min_n.items() if n and n < need and latency.get(name) is None]


def _percentile_notes(rows: list[dict], console: Console) -> None:
    short = [(r, withheld_percentiles(r.get("latency_ms") or {})) for r in rows if r["status"] == "ok"]
    short = [(r, names) for r, names in short if names]
    if not short:
        return
    min_n = short[0][0]["latency_ms"]["percentile_min_n"]
    need = ", ".join(f"{name} >= {min_n[name]}" for name in min_n)
    which = "; ".join(f"{r['converter']} n={r['latency_ms']['n']}" for r, _ in short)
    say(console, f"[yellow]Percentiles left out[/] (–): too few samples ({which}). A percentile is shown "
                 f"only from as many samples as its distribution-free 95 % confidence interval needs "
                 f"({need}); with fewer, the p99 of a run is just its largest value. Take more with "
                 "--iterations or --preset default.")


def _measurement_notes(rows: list[dict], console: Console) -> None:
    measured = [r for r in rows if r["status"] == "ok" and r.get("measurement")]
    if not measured:
        return
    req = measured[0]["measurement"].get("requested") or {}
    if req:
        target = (f"stop when ±CI <= {req['ci_target_pct']:g} %" if req.get("ci_target_pct")
                  else "stop when the minimums are met")
        say(console, f"Measurement: preset {req.get('preset')}: warm-up >= {req.get('warmup')} runs and "
                     f">= {req.get('warmup_min_s'):g} s; timed >= {req.get('iterations')} runs and >= "
                     f"{req.get('min_s'):g} s, {target}, at most {req.get('max_s'):g} s.")
    for r in measured:
        m = r["measurement"]
        if r.get("repeats"):  # deploy --repeats: the interval is the workers', not the first run's windows
            rep, lat = r["repeats"], r.get("latency_ms") or {}
            p50s = ", ".join(fmt_num(v, ".3f") for v in rep["p50_ms"])
            say(console, f"Repeats {r['converter']}: {rep['runs']} fresh workers, p50 {p50s} ms; ±CI "
                         f"{fmt_num(lat.get('ci_pct'), '.2f')} % from their medians (a rerun of "
                         f"{rep['runs']} workers is expected inside).")
        elif m.get("mlperf"):
            ml = m["mlperf"]
            why = f" ({'; '.join(ml['reasons'])})" if ml["reasons"] else ""
            say(console, f"MLPerf SingleStream {r['converter']}: {ml['result']}{why}; p90 "
                         f"{fmt_num(ml['p90_ms'], '.3f')} ms over {ml['queries']} queries.")
        elif m.get("target_met") is False:
            say(console, f"[yellow]CI target missed[/] {r['converter']}: ±"
                         f"{fmt_num(own_ci_pct(r.get('latency_ms') or {}), '.2f')} % > ±"
                         f"{m['ci_target_pct']:g} % ({m.get('stop_reason') or 'no stop reason'}); "
                         "treat its latency as noisy.")


def _spread_notes(rows: list[dict], console: Console) -> None:
    """What the ±CI covers: the board's run-to-run spread per runtime where the store knows it
    (``rerun_spread``), else that a rerun may land outside it."""
    spreads: dict[str, dict] = {}
    for r in rows:
        spread = (r.get("latency_ms") or {}).get("board_spread")
        if spread:
            spreads.setdefault(spread["runtime"], spread)
    known = [f"{rt} ±{fmt_num(s['half_width_pct'], '.1f')} % (σ {fmt_num(s['sd_pct'], '.1f')} % over "
             f"{s['reruns']} reruns of {s['variants']} variant{'s' if s['variants'] != 1 else ''})"
             for rt, s in spreads.items() if s.get("sd_log")]
    unknown = [f"{rt} ({s['df']} of {MIN_DF})" for rt, s in spreads.items() if not s.get("sd_log")]
    if known:
        say(console, "±CI where a rerun lands, at least this board's run-to-run spread from the store: "
                     f"{'; '.join(known)}; each run's own ± is latency_ms.ci_run in --json.", highlight=False)
    if unknown:
        say(console, "±CI is each run's own: too few earlier reruns on this board to know its run-to-run spread "
                     f"({', '.join(unknown)} degrees of freedom) - a rerun may land outside it.", highlight=False)


def _thermal_notes(rows: list[dict], console: Console) -> None:
    thermals = [(r, r["thermal"]) for r in rows if r.get("thermal")]
    if not thermals:
        return
    if not any(t.get("available") for _, t in thermals):
        say(console, f"Thermal: {thermals[0][1].get('status')}")
        return
    temps = [t["during"]["cpu_temp_c_max"] for _, t in thermals
             if t.get("during") and t["during"].get("cpu_temp_c_max") is not None]
    governors = sorted({str(t.get("governor")) for _, t in thermals if t.get("governor")})
    say(console, "Thermal: CPU max " + (f"{max(temps):.1f} °C" if temps else "– (no temperature)")
                 + (f", governor {', '.join(governors)}" if governors else ""))
    for r, t in thermals:
        if t.get("throttled"):
            say(console, f"[yellow]throttled[/] {r['converter']}: {'; '.join(t['throttle_reasons'])}")


def _trust_notes(rows: list[dict], console: Console) -> None:
    """Each result that is not steady, and why (``testbed.trust``)."""
    for r in rows:
        trust = r.get("trust") or {}
        if r["status"] == "ok" and trust.get("verdict") not in (None, "steady"):
            style = TRUST_STYLE.get(trust["verdict"], "yellow")
            why = "; ".join(trust.get("reasons") or []) or "no reason recorded"
            say(console, f"[{style}]{escape(trust['verdict'])}[/] {escape(r['converter'])}: {escape(why)}",
                highlight=False)


def _power_notes(rows: list[dict], console: Console) -> None:
    powers = [r["power"] for r in rows if r.get("power")]
    if not powers:
        return
    measured = [p for p in powers if p.get("active_w") is not None]
    if measured:
        p = measured[0]
        kind = ("[yellow]ESTIMATED[/] (a model, not a measurement): " if p.get("estimated")
                else "measured: ")
        say(console, f"Power: sensor {p.get('sensor')}, {kind}{p.get('what') or ''}. "
                     "Energy per inference is net of the idle baseline.")
    else:
        say(console, f"Power: not measured - {powers[0].get('missing_reason')}")
