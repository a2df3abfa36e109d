"""Interactive plots as plotly figure specs: plain ``{"data": [...], "layout": {...}}`` dicts that the page
hands to plotly.js (served from the installed plotly package) - zoom, pan, hover, a legend that hides
or isolates a line. No plotly Python objects: a spec is JSON, so the server and a static export embed
the same thing.

Every function returns a figure, or None when there is nothing to draw. A point may carry a link
(``customdata``): clicking it opens that page (``static/dashboard.js``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..report.plots import pareto_front
from .queries import NightPoint

Figure = dict[str, Any]

CURRENT, BASELINE, FRONT, REGRESSION = "#1f77b4", "#9a9a9a", "#d62728", "#d62728"
#: ten colours, then the same ten dashed, dotted...: twenty and more lines stay distinguishable
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
           "#393b79"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down"]
VERDICT_COLOURS = {"regressed": "#d62728", "broken": "#d62728", "improved": "#2ca02c", "noisy": "#d49a00",
                   "unchanged": "#7f7f7f", "new": "#1f77b4", "incomparable": "#9467bd", "failed": "#444444",
                   "missing": "#444444"}
LEGEND_ABOVE = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "font": {"size": 11}}
QUANTILES = 401  # a variant's raw samples are drawn through this many quantiles (min and max included)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        # the title top left, the mode bar (zoom, pan, save) top right, the legend just above the plot
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "y": 1, "yanchor": "top",
                  "yref": "container", "pad": {"t": 8}},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "margin": {"l": 10, "r": 10, "t": 70, "b": 50}, "hovermode": "closest",
        "plot_bgcolor": "#fbfbfb", "paper_bgcolor": "#ffffff", "legend": LEGEND_ABOVE,
    }
    layout.update(extra)
    return layout


def _axis(title: str, log: bool = False, **extra: Any) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": title}, "automargin": True, "gridcolor": "#e5e5e5", "zeroline": False}
    if log:  # plotly's own ticks: 1-2-5 over decades, plain numbers within one
        axis.update(type="log", exponentformat="none")
    axis.update(extra)
    return axis


def _spread(values: Sequence[np.ndarray]) -> tuple[float, float]:
    return min(float(v.min()) for v in values), max(float(v.max()) for v in values)


def _quantiles(samples: np.ndarray) -> list[float]:
    """The distribution's shape in ``QUANTILES`` points (exact min, quartiles and max)."""
    return [round(float(x), 6) for x in np.quantile(samples, np.linspace(0.0, 1.0, QUANTILES))]


@dataclass(frozen=True)
class Distribution:
    """One variant's raw per-inference latencies (ms, every repeat pooled), and its baseline's."""

    label: str
    current: np.ndarray
    baseline: np.ndarray | None = None


def latency_distributions(items: list[Distribution], title: str, name: str = "this run") -> Figure | None:
    """Per variant a violin of its raw latencies (``name`` in the legend) and, split along its middle, its
    baseline's in grey, with the box of quartiles inside; a log axis when they span more than 8x."""
    items = [d for d in items if d.current.size]
    if not items:
        return None
    data: list[dict[str, Any]] = []
    split = any(d.baseline is not None and d.baseline.size for d in items)
    for which, colour, side, label in (("current", CURRENT, "positive" if split else "both", name),
                                       ("baseline", BASELINE, "negative", "baseline")):
        shown = [(d.label, getattr(d, which)) for d in items if getattr(d, which) is not None
                 and getattr(d, which).size]
        for i, (y, samples) in enumerate(shown):
            q = _quantiles(samples)
            data.append({"type": "violin", "orientation": "h", "x": q, "y": [y] * len(q), "name": label,
                         "legendgroup": which, "showlegend": i == 0, "side": side, "width": 0.9,
                         "line": {"color": colour, "width": 1}, "fillcolor": colour, "opacity": 0.75,
                         "points": False, "spanmode": "hard",
                         "box": {"visible": True, "width": 0.3, "fillcolor": "rgba(255,255,255,0.55)",
                                 "line": {"color": "#333333", "width": 1}},
                         "meanline": {"visible": False}, "scalemode": "width", "hoveron": "violins",
                         "hoverinfo": "x+name"})
    lo, hi = _spread([d.current for d in items] + [d.baseline for d in items if d.baseline is not None
                                                    and d.baseline.size])
    log = lo > 0 and hi / lo > 8
    return {"data": data, "layout": _layout(
        title, height=110 + 52 * len(items), violinmode="overlay", violingap=0.15,
        xaxis=_axis("latency per inference (ms); violin: all raw samples, box: quartiles", log=log),
        yaxis={"automargin": True, "autorange": "reversed", "type": "category"})}


@dataclass(frozen=True)
class Variant:
    """One measured variant for the size/latency plot."""

    label: str
    size_kb: float
    p50_ms: float
    url: str | None = None


def size_latency(items: list[Variant], title: str) -> tuple[Figure | None, list[Variant]]:
    """Artifact size against median latency on log axes, the Pareto front (nothing both smaller and
    faster) as a red staircase; labels on hover (they would overlap as text). Also the front, smallest
    first, for the table beside the plot."""
    items = [v for v in items if v.size_kb > 0 and v.p50_ms > 0]
    if not items:
        return None, []
    front = sorted((items[i] for i in pareto_front([(v.size_kb, v.p50_ms) for v in items])), key=lambda v: v.size_kb)
    hover = "<b>%{text}</b><br>%{x:.4g} KB · %{y:.4g} ms<extra></extra>"
    data = [
        {"type": "scatter", "mode": "lines", "name": "Pareto front", "x": [v.size_kb for v in front],
         "y": [v.p50_ms for v in front], "line": {"color": FRONT, "shape": "hv", "width": 2}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "markers", "name": "variant", "x": [v.size_kb for v in items],
         "y": [v.p50_ms for v in items], "text": [v.label for v in items], "customdata": [v.url for v in items],
         "marker": {"color": CURRENT, "size": 9, "line": {"color": "#ffffff", "width": 1}}, "hovertemplate": hover},
        {"type": "scatter", "mode": "markers", "name": "on the front", "x": [v.size_kb for v in front],
         "y": [v.p50_ms for v in front], "text": [v.label for v in front], "customdata": [v.url for v in front],
         "marker": {"color": "rgba(0,0,0,0)", "size": 15, "line": {"color": FRONT, "width": 2.5}},
         "hovertemplate": hover},
    ]
    return {"data": data, "layout": _layout(
        title, height=420, xaxis=_axis("artifact size (KB)", log=True),
        yaxis=_axis("median latency (ms)", log=True))}, front


@dataclass(frozen=True)
class Line:
    """One cell across the runs of its plan."""

    label: str
    points: list[NightPoint]
    urls: list[str | None]  # per point: the page it opens (that run)


def history(lines: list[Line], title: str) -> Figure | None:
    """One line per cell across runs: the median of its repeats' medians, whiskers from the lowest to the
    highest repeat; a regression (or a cell broken that night) ringed in red. Lines differ by colour,
    then dash and marker, so twenty stay apart; a legend click hides one, a double click isolates it."""
    lines = [ln for ln in lines if any(p.median_ms is not None for p in ln.points)]
    if not lines:
        return None
    data: list[dict[str, Any]] = []
    red_x: list[str] = []
    red_y: list[float] = []
    red_text: list[str] = []
    red_urls: list[str | None] = []
    for i, line in enumerate(lines):
        pts = [(p, u) for p, u in zip(line.points, line.urls, strict=True) if p.p50s_ms]
        colour, dash, symbol = PALETTE[i % 10], DASHES[(i // 10) % 5], SYMBOLS[(i // 10) % 5]
        mids = [sorted(p.p50s_ms)[len(p.p50s_ms) // 2] for p, _ in pts]  # NightPoint.median_ms, not None here
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": line.label,
            "x": [p.created_at.isoformat(sep=" ") for p, _ in pts], "y": mids,
            "error_y": {"type": "data", "symmetric": False, "thickness": 1, "width": 3,
                        "array": [max(p.p50s_ms) - m for (p, _), m in zip(pts, mids, strict=True)],
                        "arrayminus": [m - min(p.p50s_ms) for (p, _), m in zip(pts, mids, strict=True)]},
            "line": {"color": colour, "dash": dash, "width": 2}, "marker": {"symbol": symbol, "size": 7},
            "text": [f"{line.label}<br>run {p.run_id} ({p.verdict or 'not judged'})" for p, _ in pts],
            "customdata": [u for _, u in pts],
            "hovertemplate": "%{text}<br>median %{y:.4g} ms (whiskers: lowest..highest repeat)<extra></extra>"})
        last_y: float | None = None
        for p, url in zip(line.points, line.urls, strict=True):
            y = p.median_ms if p.median_ms is not None else last_y  # a broken night: at the last level
            if p.regressed and y is not None:
                red_x.append(p.created_at.isoformat(sep=" "))
                red_y.append(y)
                red_text.append(f"{line.label}<br>run {p.run_id}: <b>{p.verdict}</b><br>{_short(p.reason)}")
                red_urls.append(url)
            last_y = y
    if red_x:
        data.append({"type": "scatter", "mode": "markers", "name": "regression (vs its baseline)", "x": red_x,
                     "y": red_y, "text": red_text, "customdata": red_urls,
                     "marker": {"color": "rgba(0,0,0,0)", "size": 17, "line": {"color": REGRESSION, "width": 3}},
                     "hovertemplate": "%{text}<extra></extra>"})
    return {"data": data, "layout": _layout(
        title, height=380 + 14 * max(0, len(lines) - 8), xaxis=_axis("run started (UTC)", type="date"),
        yaxis=_axis("median latency (ms)", rangemode="tozero"),
        legend={"font": {"size": 11}, "x": 1.01, "y": 1, "xanchor": "left"})}


def _short(text: str | None, n: int = 140) -> str:
    text = (text or "").replace("<", "&lt;")
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Change:
    """One cell of a comparison: its latency change and interval, and its verdict."""

    label: str
    change_pct: float
    ci_low_pct: float | None
    ci_high_pct: float | None
    verdict: str
    url: str | None = None


def changes(items: list[Change], threshold_pct: float, title: str) -> Figure | None:
    """Each cell's change of median latency with its confidence interval, coloured by verdict; the band
    of ±threshold shaded (an interval inside it is unchanged)."""
    if not items:
        return None
    labels = [c.label for c in items]
    data: list[dict[str, Any]] = []
    for verdict in dict.fromkeys(c.verdict for c in items):
        mine = [c for c in items if c.verdict == verdict]
        data.append({
            "type": "scatter", "mode": "markers", "name": verdict,
            "x": [c.change_pct for c in mine], "y": [c.label for c in mine], "customdata": [c.url for c in mine],
            "error_x": {"type": "data", "symmetric": False, "thickness": 1.5, "width": 4,
                        "array": [(c.ci_high_pct - c.change_pct) if c.ci_high_pct is not None else 0 for c in mine],
                        "arrayminus": [(c.change_pct - c.ci_low_pct) if c.ci_low_pct is not None else 0
                                       for c in mine]},
            "marker": {"color": VERDICT_COLOURS.get(verdict, "#444444"), "size": 10},
            "hovertemplate": "%{y}: %{x:+.1f} %<extra>" + verdict + "</extra>"})
    shape = {"type": "rect", "xref": "x", "yref": "paper", "x0": -threshold_pct, "x1": threshold_pct, "y0": 0,
             "y1": 1, "fillcolor": "rgba(127,127,127,0.12)", "line": {"width": 0}, "layer": "below"}
    return {"data": data, "layout": _layout(
        title, height=120 + 30 * len(items), shapes=[shape],
        xaxis=_axis(f"change of median latency (%), {threshold_pct:g} % band shaded; bars: confidence interval",
                    zeroline=True, zerolinecolor="#999999"),
        yaxis={"automargin": True, "autorange": "reversed", "type": "category", "categoryarray": labels})}


@dataclass(frozen=True)
class Ratio:
    """One PyTorch-vs-TensorFlow pair of the framework verdict: median(TensorFlow path) / median(PyTorch path)."""

    label: str
    ratio: float
    ci: tuple[float, float] | None
    verdict: str


def framework_ratios(items: list[Ratio], title: str) -> Figure | None:
    """Each pair's ratio of median latency (TensorFlow path / PyTorch path) on a log axis with its interval:
    right of 1 the PyTorch path is faster, left of it the TensorFlow one; grey when the interval covers 1."""
    items = [r for r in items if r.ratio > 0]
    if not items:
        return None
    colours = {"pytorch faster": "#ee4c2c", "tensorflow faster": "#ff8f00"}
    data = []
    for verdict in dict.fromkeys(r.verdict for r in items):  # one trace per verdict: its colour, its legend entry
        mine = [r for r in items if r.verdict == verdict]
        colour = colours.get(verdict, "#7f7f7f")
        data.append({
            "type": "scatter", "mode": "markers", "name": verdict, "x": [r.ratio for r in mine],
            "y": [r.label for r in mine],
            "error_x": {"type": "data", "symmetric": False, "thickness": 1.5, "width": 4, "color": colour,
                        "array": [(r.ci[1] - r.ratio) if r.ci else 0 for r in mine],
                        "arrayminus": [(r.ratio - r.ci[0]) if r.ci else 0 for r in mine]},
            "marker": {"size": 11, "color": colour},
            "hovertemplate": "%{y}: TensorFlow/PyTorch time %{x:.3f}x<extra>" + verdict + "</extra>"})
    lo = min([r.ci[0] if r.ci else r.ratio for r in items] + [0.8])
    hi = max([r.ci[1] if r.ci else r.ratio for r in items] + [1.25])
    line = {"type": "line", "xref": "x", "yref": "paper", "x0": 1, "x1": 1, "y0": 0, "y1": 1,
            "line": {"color": "#555555", "width": 1, "dash": "dot"}}
    return {"data": data, "layout": _layout(
        title, height=140 + 30 * len(items), shapes=[line],
        xaxis=_axis("← TensorFlow path faster · median latency TensorFlow / PyTorch path (log; bars: 95 % CI)"
                    " · PyTorch path faster →", log=True,
                    range=[float(np.log10(lo / 1.05)), float(np.log10(hi * 1.05))]),
        yaxis={"automargin": True, "autorange": "reversed", "type": "category"})}
