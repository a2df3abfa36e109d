"""The comparison table `testbed deploy` prints: one row per artifact, units in the headers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

COLUMNS = [
    ("Variant", "left"), ("Runtime", "left"), ("Status", "left"),
    ("Size (KB)", "right"), ("Load (ms)", "right"), ("p50 (ms)", "right"), ("±CI (%)", "right"),
    ("Target met", "left"), ("p90 (ms)", "right"), ("p99 (ms)", "right"), ("n", "right"),
    ("Model mem (MB)", "right"), ("Peak RSS (MB)", "right"), ("Accuracy (%)", "right"),
    ("Parity |Δ|", "right"), ("Agreement", "right"), ("Power (W)", "right"),
    ("Energy (mJ/inf)", "right"), ("Cached", "left"),
]


#: Headers that may wrap onto two lines when the table is wider than the console.
WRAPPABLE = ("Load (ms)", "Target met", "Model mem (MB)", "Parity |Δ|", "Agreement", "Cached")


def fmt_num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def row_cells(r: dict) -> list[str]:
    lat = r.get("latency_ms") or {}
    par = r.get("parity") or {}
    ok = r["status"] == "ok"
    return [
        r["converter"], r["runtime"],
        status_cell(r),
        fmt_num(r["size_bytes"] / 1024 if r.get("size_bytes") else None, ".1f"),
        fmt_num(r.get("load_ms"), ".1f"), fmt_num(lat.get("p50"), ".3f"),
        fmt_num(lat.get("ci_pct"), ".2f"), target_cell(r.get("measurement")) if ok else "–",
        fmt_num(lat.get("p90"), ".3f"),
        fmt_num(lat.get("p99"), ".3f"), str(lat.get("n") or "–"),
        fmt_num(r.get("model_memory_mb"), ".1f"), fmt_num(r.get("peak_rss_mb"), ".0f"),
        fmt_num(r["accuracy"] * 100 if r.get("accuracy") is not None else None, ".1f"),
        fmt_num(par.get("max_abs_err"), ".1e"), agreement_cell(r),
        *power_cells(r.get("power")),
        "yes" if r.get("cached") else "no",
    ]


def agreement_cell(r: dict) -> str:
    """The worst output's agreement with the source (``parity``): top-1 % for logits, the lowest
    cosine similarity for embeddings (and the share of sample-pair similarity orderings kept), the
    lowest IoU for boxes; the output's name when the model has
    several (the JSON has them all: ``parity_outputs``)."""
    par = r.get("parity") or {}
    if par.get("cosine_min") is not None:  # and whether the pairs' similarity ranking holds
        rank = par.get("rank_agreement")
        cell = f"cos {par['cosine_min']:.4f}" + (f", rank {rank * 100:.0f} %" if rank is not None else "")
    elif par.get("iou_min") is not None:
        cell = f"IoU {par['iou_min']:.3f}"
    elif par.get("top1_agreement") is not None:
        cell = f"{par['top1_agreement'] * 100:.1f} %"
    else:
        return "–"
    several = len(r.get("parity_outputs") or []) > 1
    return f"{cell} {par['name']}" if several and par.get("name") else cell


def status_cell(r: dict) -> str:
    if r["status"] != "ok":
        return "[red]failed[/]"
    if (r.get("thermal") or {}).get("throttled"):
        return "[yellow]throttled[/]"  # measured, but the board throttled (see the notes)
    return "[green]ok[/]"


def target_cell(m: dict | None) -> str:
    """yes / NO against the CI target; MLPerf's VALID / INVALID under that preset; – without one."""
    if not m:
        return "–"
    if m.get("mlperf"):
        valid = m["mlperf"]["result"] == "VALID"
        return "[green]VALID[/]" if valid else "[red]INVALID[/]"
    if m.get("target_met") is None:
        return "–"
    return "[green]yes[/]" if m["target_met"] else "[red]NO[/]"


def power_cells(power: dict | None) -> tuple[str, str]:
    """Active watts and net energy per inference; estimates are marked 'est.' in the cell itself."""
    if not power or power.get("active_w") is None:
        return "–", "–"
    mark = " est." if power.get("estimated") else ""
    energy = power.get("energy_mj_per_inference")
    if energy is not None and abs(energy) < 5e-7:
        energy = 0.0  # float rounding of an idle-equals-active difference, not a figure
    return (fmt_num(power["active_w"], ".2f") + mark, fmt_num(energy, ".3g") + mark)


def render(rows: list[dict], title: str, console: Console) -> None:
    table = Table(title=title, title_justify="left")
    for name, justify in COLUMNS:
        table.add_column(name, justify=justify,  # type: ignore[arg-type]
                         no_wrap=name not in WRAPPABLE)
    for r in rows:
        table.add_row(*row_cells(r))
    console.print(table)
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        console.print(f"[red]failed[/] {r['converter']} ({r['runtime']}): {r.get('error')}")
    _emulated_notes(rows, console)
    _percentile_notes(rows, console)
    _power_notes(rows, console)
    _measurement_notes(rows, console)
    _thermal_notes(rows, console)
    console.print("Latency: per inference, batch 1, after warm-up; p50/p90/p99 from the raw samples (n). "
                  "±CI: half-width of the 95 % confidence interval of the median (order statistics, no "
                  "distribution assumed), % of p50; Target met: whether it is within the run's target. "
                  "Model mem: peak RSS while loading and running minus the worker with the runtime "
                  "imported; Peak RSS: the whole measuring worker. Parity: against the source framework "
                  "on the same inputs.")


def _emulated_notes(rows: list[dict], console: Console) -> None:
    emulated = {(r.get("measurement") or {}).get("emulated") for r in rows}
    how = sorted(e for e in emulated if e is not None)
    if how:
        console.print(f"[yellow]EMULATED board[/] ({'; '.join(how)}): latency, memory and load times are "
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
    console.print(f"[yellow]Percentiles left out[/] (–): too few samples ({which}). A percentile is shown "
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
        console.print(f"Measurement: preset {req.get('preset')}: warm-up >= {req.get('warmup')} runs and "
                      f">= {req.get('warmup_min_s'):g} s; timed >= {req.get('iterations')} runs and >= "
                      f"{req.get('min_s'):g} s, {target}, at most {req.get('max_s'):g} s.")
    for r in measured:
        m = r["measurement"]
        if m.get("mlperf"):
            ml = m["mlperf"]
            why = f" ({'; '.join(ml['reasons'])})" if ml["reasons"] else ""
            console.print(f"MLPerf SingleStream {r['converter']}: {ml['result']}{why}; p90 "
                          f"{fmt_num(ml['p90_ms'], '.3f')} ms over {ml['queries']} queries.")
        elif m.get("target_met") is False:
            console.print(f"[yellow]CI target missed[/] {r['converter']}: ±"
                          f"{fmt_num((r.get('latency_ms') or {}).get('ci_pct'), '.2f')} % > ±"
                          f"{m['ci_target_pct']:g} % ({m.get('stop_reason') or 'no stop reason'}); "
                          "treat its latency as noisy.")


def _thermal_notes(rows: list[dict], console: Console) -> None:
    thermals = [(r, r["thermal"]) for r in rows if r.get("thermal")]
    if not thermals:
        return
    if not any(t.get("available") for _, t in thermals):
        console.print(f"Thermal: {thermals[0][1].get('status')}")
        return
    temps = [t["during"]["cpu_temp_c_max"] for _, t in thermals
             if t.get("during") and t["during"].get("cpu_temp_c_max") is not None]
    governors = sorted({str(t.get("governor")) for _, t in thermals if t.get("governor")})
    console.print("Thermal: CPU max " + (f"{max(temps):.1f} °C" if temps else "– (no temperature)")
                  + (f", governor {', '.join(governors)}" if governors else ""))
    for r, t in thermals:
        if t.get("throttled"):
            console.print(f"[yellow]throttled[/] {r['converter']}: {'; '.join(t['throttle_reasons'])}")


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
