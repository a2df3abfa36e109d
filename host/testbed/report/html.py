"""`testbed report RUN --html FILE`: one self-contained HTML file, no JavaScript, no network.

Plots are inline SVG (plots.py). Sections: summary, boards, verdict table, the framework verdict
(PyTorch vs TensorFlow paths, ``framework_verdict``), per board the latency distributions and the
size-vs-latency Pareto front, energy per inference, and the history of every cell across the plan's runs;
for a sustained run (``--sustain``, ``testbed.sustain``) its latency over time, all variants together, and
whether the ranking at the start holds at the end.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any

from .. import __version__, framework_verdict, sustain
from ..stats import fmt_p_value
from . import plots
from .export import RunData, load_run

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin-bottom:4px} .meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12px;margin:8px 0} th,td{border:1px solid #ddd;padding:3px 6px}
th{background:#f3f3f3;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.v-regressed,.v-broken{background:#f8d0d0;font-weight:bold} .v-improved{background:#d4f0d4}
.v-noisy{background:#fff3c4} .v-new{background:#dceefb} .v-failed,.v-missing{background:#f3e0e0}
.s-ok{color:#1a7f37} .s-bad,.s-lost,.s-busy{color:#b42318;font-weight:bold}
.plot{margin:8px 0 18px 0} .plot svg{max-width:100%;height:auto} .note{font-size:12px;color:#555}
.chips span{display:inline-block;padding:2px 8px;margin:2px;border-radius:10px;font-size:12px}
"""

METHOD = (
    "Latency verdicts: change of the median of the raw samples (all repeats pooled) with a two-stage "
    "bootstrap confidence interval (repeats, then samples), a Mann-Whitney U test on the raw samples and a "
    "threshold. Regressed only when the test is significant and the whole interval lies beyond the threshold; "
    "an interval that straddles the threshold is <b>noisy</b>, never a regression. Size is exact; memory and "
    "energy need the median beyond the threshold and the per-run ranges apart; estimated energy never decides. "
    "See testbed/verdicts.py.")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _p(value: float | None) -> str:
    return _e(fmt_p_value(value))


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(value: Any, num: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if num else "", cls) if c)
    return f"<td{f' class={chr(34)}{classes}{chr(34)}' if classes else ''}>{value}</td>"


def _plot(svg: str | None, empty: str) -> str:
    return f'<div class="plot">{svg}</div>' if svg else f'<p class="note">{_e(empty)}</p>'


def _verdict_rows(rows: list[dict]) -> str:
    headers = ["Board", "Model", "Variant", "Runtime", "Threads", "State", "Runs", "Size (KB)", "p50 (ms)",
               "p99 (ms)", "Base p50 (ms)", "Δ median (%)", "95% CI (%)", "p (U test)", "Peak RSS (MB)",
               "Accuracy (%)", "Energy (mJ/inf)", "Verdict", "Why"]
    out, classes = [], []
    for r in rows:
        lo, hi = r.get("latency_ci_low_pct"), r.get("latency_ci_high_pct")
        energy = _num(r.get("energy_mj_per_inference"), ".4g") + (" est." if r.get("power_estimated") else "")
        verdict = r.get("verdict") or "–"
        out.append([
            _td(_e(r["device"]) + (" (emulated)" if r.get("emulated") else "")), _td(_e(r["model"])),
            _td(_e(r["converter"])), _td(_e(r["runtime"])),
            _td(_e(r["threads"] or "default")), _td(_e(r["state"])), _td(r["runs_measured"], True),
            _td(_num(r["size_bytes"] / 1024 if r.get("size_bytes") else None, ".1f"), True),
            _td(_num(r.get("p50_ms"), ".4g"), True), _td(_num(r.get("p99_ms"), ".4g"), True),
            _td(_num(r.get("baseline_p50_ms"), ".4g"), True), _td(_num(r.get("latency_change_pct"), "+.1f"), True),
            _td(f"{lo:+.1f} .. {hi:+.1f}" if lo is not None and hi is not None else "–", True),
            _td(_p(r.get("latency_p_value")), True), _td(_num(r.get("peak_rss_mb"), ".0f"), True),
            _td(_num(r["accuracy"] * 100 if r.get("accuracy") is not None else None, ".1f"), True),
            _td(_e(energy), True), _td(f"<b>{_e(verdict)}</b>"),
            _td(_e(r.get("verdict_reason") or r.get("error") or "")),
        ])
        classes.append(f"v-{verdict}")
    return _table(headers, out, classes)


FRAMEWORK_METHOD = (
    "Each PyTorch-source variant against the Keras-source one of the same format and precision, each "
    "framework's own edge path (ExecuTorch vs TFLite) and the frameworks themselves: the ratio of median latency "
    "(TensorFlow path / PyTorch path) with a seeded bootstrap confidence interval from the raw samples; "
    "<b>no clear difference</b> when it covers 1. Energy marked est. is ESTIMATED from CPU utilisation. "
    "See testbed/framework_verdict.")


def _framework_rows(verdict: framework_verdict.FrameworkVerdict) -> str:
    """One row per pair: both sides' variant, status and figures, the ratio and its interval, the verdict."""
    headers = ["Pair", "Precision", "Verdict", "TF/PT time", "CI", "Side", "Variant", "Status", "p50 (ms)", "Size (KB)",
               "Model memory (MB)", "Energy (mJ/inf)", "Agreement", "Why not measured"]
    out, classes = [], []
    for pair in verdict.ordered():
        ci = f"{pair.ci[0]:.3f} .. {pair.ci[1]:.3f}" if pair.ci else "–"
        for side in (pair.pytorch, pair.tensorflow):
            first = side is pair.pytorch
            energy = _num(side.energy_mj_per_inference, ".4g") + (" est." if side.energy_estimated else "")
            out.append([
                _td(_e(pair.family) if first else ""),
                _td(_e(pair.precision) if first else ""),
                _td(f"<b>{_e(pair.verdict)}</b>" if first else _e(pair.reason)),
                _td(_num(pair.ratio, ".3f") if first else "", True), _td(_e(ci) if first else "", True),
                _td(_e(framework_verdict.side_name(side))), _td(f"<code>{_e(side.variant)}</code>"),
                _td(_e(side.status)), _td(_num(side.p50_ms, ".4g"), True),
                _td(_num(side.size_bytes / 1024 if side.size_bytes else None, ".1f"), True),
                _td(_num(side.model_memory_mb, ".1f"), True), _td(_e(energy), True), _td(_e(side.agreement or "–")),
                _td(_e(side.reason or "")),
            ])
            classes.append("" if pair.verdict != framework_verdict.NOT_COMPARED else "v-failed")
    return _table(headers, out, classes)


def _framework_section(verdicts: list[framework_verdict.FrameworkVerdict]) -> list[str]:
    parts = ["<h2>Framework verdict: PyTorch vs TensorFlow paths</h2>", f'<p class="note">{FRAMEWORK_METHOD}</p>']
    for verdict in verdicts:
        parts.append(f"<h3>{_e(verdict.model)} on <code>{_e(verdict.device)}</code></h3>")
        parts.append(f"<p>{_e(verdict.summary())}</p>")
        if verdict.pairs:
            parts.append(_framework_rows(verdict))
    return parts


def history_series(store: Any, data: RunData, device: str) -> dict[str, list[tuple[str, float, float, float]]]:
    """label -> [(run id, lowest, median, highest repeat median)] for the board's cells."""
    keys = {r["key"]: r for r in data.rows if r["device"] == device}
    series: dict[str, list[tuple[str, float, float, float]]] = {}
    for run_id, key, p50s in store.cell_history(data.run.plan_name, keys, limit_runs=30,
                                                until=data.run.created_at):
        r = keys[key]
        label = f"{r['model']} {r['converter']}" + (f" t{r['threads']}" if r.get("threads") else "")
        series.setdefault(label, []).append((run_id, min(p50s), sorted(p50s)[len(p50s) // 2], max(p50s)))
    return series


def sustained(store: Any, data: RunData, device: str) -> tuple[dict[str, list[dict]], list[dict]]:
    """The board's sustained curves (label -> ``per_second``, a label per repeat) and their records."""
    cells = [c for c in store.plan_cells(data.run.id) if c.device == device]
    results = store.cell_results(c.id for c in cells)
    curves: dict[str, list[dict]] = {}
    records: list[dict] = []
    for c in cells:
        done = [r.record for r in results[c.id] if r.record and (r.record.get("sustain") or {}).get("per_second")]
        for i, rec in enumerate(done):
            label = f"{c.model} {c.converter}" + (f" t{c.threads}" if c.threads else "")
            curves[label + (f" #{i + 1}" if len(done) > 1 else "")] = rec["sustain"]["per_second"]
            records.append(rec)
    return curves, records


def _sustain_section(store: Any, data: RunData, device: str) -> list[str]:
    """The board's sustained run, when it was one: the plot and the summary's lines."""
    curves, records = sustained(store, data, device)
    summary = sustain.sustain_summary(records)
    if not curves or summary is None:
        return []
    note = "<br>".join(_e(line) for line in sustain.summary_lines(summary))
    method = _e(records[0]["sustain"].get("thermal") or "")
    return ["<h3>Sustained run: latency over time</h3>", f'<p class="note">{note}</p>',
            _plot(plots.sustain(curves, f"{device}: p50 latency per second"), "no per-second figures"),
            f'<p class="note">temperature and throttling: {method}</p>']


def render(store: Any, run_id: str) -> str:
    data = load_run(store, run_id)
    run = data.run
    baseline = load_run(store, run.baseline_id).samples_ms if run.baseline_id else {}
    counts: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for r in data.rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        if r.get("verdict"):
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    chips = "".join(f'<span class="v-{_e(v)}">{_e(v)}: {n}</span>' for v, n in sorted(verdicts.items()))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>testbed run {_e(run.id)} ({_e(run.plan_name)})</title><style>{CSS}</style></head><body>",
        f"<h1>Plan <code>{_e(run.plan_name)}</code>: run <code>{_e(run.id)}</code></h1>",
        f'<p class="meta">status <b>{_e(run.status)}</b> · started {_e(run.created_at)} UTC · finished '
        f"{_e(run.finished_at or '–')} · controller {_e(run.host)} (testbed {_e(run.host_version)}) · baseline "
        f"<code>{_e(run.baseline_id or 'none')}</code> · regressions <b>{_e(run.regressions or 0)}</b></p>",
        f'<p class="meta">cells: {_e(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))}</p>',
        f'<div class="chips">{chips}</div>',
        "<h2>Boards</h2>",
        _table(["Board", "Status", "Reason", "Agent"],
               [[_td(_e(b.device)), _td(f'<span class="s-{_e(b.status)}">{_e(b.status)}</span>'),
                 _td(_e(b.reason or "")),
                 _td(_e(" ".join(str((b.agent_info or {}).get(k, "")) for k in ("hostname", "machine", "cpu"))))]
                for b in data.boards]),
        "<h2>Verdicts</h2>", f'<p class="note">{METHOD}</p>', _verdict_rows(data.rows),
        *_framework_section(framework_verdict.for_run(store, run.id)),
    ]
    devices = list(dict.fromkeys(r["device"] for r in data.rows))
    for device in devices:
        rows = [r for r in data.rows if r["device"] == device]
        parts.append(f"<h2>Board <code>{_e(device)}</code></h2>")
        parts.append("<h3>Latency distributions per variant</h3>")
        parts.append(_plot(plots.latency_distributions(rows, data.samples_ms, baseline, f"{device}: latency"),
                           "no latency samples on this board in this run"))
        parts.append("<h3>Size vs latency (Pareto front)</h3>")
        parts.append(_plot(plots.size_vs_latency(rows, f"{device}: size vs median latency"),
                           "nothing measured on this board in this run"))
        parts.append("<h3>History across runs of this plan</h3>")
        parts.append(_plot(plots.history(history_series(store, data, device), f"{device}: median latency per run"),
                           "no history yet"))
        parts += _sustain_section(store, data, device)
    parts.append("<h2>Energy per inference</h2>")
    parts.append(_plot(plots.energy(data.rows, "energy per inference, net of idle"),
                       "no energy figures in this run (no power sensor on its boards)"))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="note">Made by testbed {_e(__version__)} on {stamp}. Raw samples are in the results '
                 "store; <code>testbed report RUN --csv FILE</code> exports the table.</p></body></html>")
    return "\n".join(parts)
