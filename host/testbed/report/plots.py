"""Plots for the HTML report, drawn with matplotlib (Agg) and returned as inline SVG text.

Every plot function returns one ``<svg ...>`` element (no XML header), or None when there is nothing to
draw; its ``*_figure`` twin returns the matplotlib figure itself (tests render it). No file, no
network, no JavaScript: the report stays one self-contained file.

Plots that read: every figure is laid out by matplotlib's constrained layout, so tick labels, titles and
a legend outside the axes stay inside it; lines differ in marker and line style as well as colour, from
a colour-blind-safe palette (Okabe & Ito); long labels are shortened in the middle.
"""

from __future__ import annotations

import io
import re
from types import ModuleType
from typing import Any

import numpy as np

CURRENT, BASELINE, FRONT = "#1f77b4", "#b0b0b0", "#d62728"
#: Okabe & Ito's colour-blind-safe palette (black last: it reads as "the axis" first)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]  # 7 against 8 colours: a (colour, marker) pair repeats after 56
LINESTYLES = ["-", "--", "-.", ":"]
LABEL_CHARS = 56  # a legend or tick label longer than this is shortened in the middle
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_RUN_ID = re.compile(r"^\d{4}(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-[0-9a-f]+$")


def _mpl() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10,
                         "svg.hashsalt": "testbed"})  # stable ids: the same data gives the same SVG
    return plt


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure and its axes under constrained layout: labels, titles and legends are fitted inside. No
    offset notation ("+1.125" above the axis): the numbers on the axis are the values."""
    fig, ax = _mpl().subplots(figsize=(width, height), layout="constrained")
    ax.ticklabel_format(useOffset=False)
    return fig, ax


def style(i: int) -> dict[str, Any]:
    """The ``i``-th line's colour, marker and line style: no two of the first 56 lines look alike, and
    two lines of the same colour differ in marker (colour-blind readers tell them apart by shape)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut in the middle to ``limit`` characters ("resnet18 onnx-t…int8-static t4")."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def run_ticks(run_ids: list[str]) -> list[str]:
    """Short tick labels for run ids: ``20250131-020000-1a2b`` -> ``01-31 02:00``, with the seconds and
    then the id's suffix where the shorter labels would repeat; other ids shortened."""
    parts = [_RUN_ID.match(r) for r in run_ids]
    if not all(parts):
        return [shorten(r, 20) for r in run_ids]
    for fmt in ("{1}-{2} {3}:{4}", "{1}-{2} {3}:{4}:{5}", "{0}"):
        labels = [fmt.format(m.group(0), *m.groups()) for m in parts if m]
        if len(set(labels)) == len(labels):
            return labels
    return run_ids


def _svg(fig: Any) -> str:
    plt = _mpl()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})  # no RDF block
    plt.close(fig)
    return _XML_HEAD.sub("", buf.getvalue(), count=1)


def _label(row: dict) -> str:
    threads = f" t{row['threads']}" if row.get("threads") else ""
    return f"{row['model']} {row['converter']}{threads}"


def latency_distributions(rows: list[dict], samples: dict[str, list[np.ndarray]],
                          baseline: dict[str, list[np.ndarray]], title: str) -> str | None:
    """Per variant: the distribution of per-inference latency (box p25-p75, line at the median,
    whiskers p5-p95), this run beside its baseline."""
    fig = latency_figure(rows, samples, baseline, title)
    return None if fig is None else _svg(fig)


def latency_figure(rows: list[dict], samples: dict[str, list[np.ndarray]],
                   baseline: dict[str, list[np.ndarray]], title: str) -> Any | None:
    """The figure of ``latency_distributions``."""
    items = [(r, np.concatenate(samples[r["key"]])) for r in rows if samples.get(r["key"])]
    if not items:
        return None
    plt = _mpl()
    fig, ax = _figure(9, 0.55 * len(items) + 1.3)
    pos, data, colors, ticks, labels = [], [], [], [], []
    for i, (row, cur) in enumerate(items):
        y = len(items) - i
        base = baseline.get(row["key"])
        if base:
            pos += [y + 0.18, y - 0.18]
            data += [cur, np.concatenate(base)]
            colors += [CURRENT, BASELINE]
        else:
            pos.append(y)
            data.append(cur)
            colors.append(CURRENT)
        ticks.append(y)
        labels.append(shorten(_label(row)))
    box = ax.boxplot(data, positions=pos, vert=False, widths=0.3, whis=(5, 95), showfliers=False,
                     patch_artist=True, medianprops={"color": "black"})
    for patch, color in zip(box["boxes"], colors, strict=True):
        patch.set_facecolor(color)
    ax.set_yticks(ticks, labels)
    lo = min(float(np.percentile(d, 5)) for d in data)
    hi = max(float(np.percentile(d, 95)) for d in data)
    if lo > 0 and hi / lo > 8:
        ax.set_xscale("log")
    ax.set_xlabel("latency per inference (ms)\nbox p25-p75, whiskers p5-p95")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=CURRENT, label="this run")]
    if any(c == BASELINE for c in colors):
        handles.append(plt.Rectangle((0, 0), 1, 1, color=BASELINE, label="baseline"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (smaller is better on both)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def size_vs_latency(rows: list[dict], title: str) -> str | None:
    """Artifact size against median latency on log axes; the Pareto front (nothing both smaller and
    faster) in red, its variants numbered by size beside their points and named in the legend (the
    others are beaten; a label on every point would pile up)."""
    fig = size_vs_latency_figure(rows, title)
    return None if fig is None else _svg(fig)


def size_vs_latency_figure(rows: list[dict], title: str) -> Any | None:
    """The figure of ``size_vs_latency``."""
    from matplotlib.lines import Line2D

    items = [r for r in rows if r.get("size_bytes") and r.get("p50_ms")]
    if not items:
        return None
    pts = [(r["size_bytes"] / 1024, r["p50_ms"]) for r in items]
    front = sorted(pareto_front(pts), key=lambda i: pts[i])
    fig, ax = _figure(9, max(4.6, 0.17 * len(front) + 1.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    dots = ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=CURRENT, marker="o", s=22, zorder=3)
    fp = [pts[i] for i in front]
    ax.step([p[0] for p in fp], [p[1] for p in fp], where="post", color=FRONT, linestyle="--", zorder=2)
    ringed, = ax.plot([p[0] for p in fp], [p[1] for p in fp], linestyle="none", marker="D", ms=7, mfc="none",
                      mec=FRONT, mew=1.6, zorder=4)
    _pad_log(ax, [p[0] for p in pts], "x")
    _pad_log(ax, [p[1] for p in pts], "y")
    numbers = [ax.annotate(str(n), pts[i], textcoords="offset points", xytext=(5, 4), fontsize=7, color=FRONT,
                           fontweight="bold") for n, i in enumerate(front, 1)]
    ax.set_xlabel("artifact size (KB, log scale)")
    ax.set_ylabel("median latency (ms, log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    keys = [Line2D([], [], linestyle="none", marker=f"${n}$", color=FRONT, ms=6 + 2 * len(str(n)))
            for n in range(1, len(front) + 1)]
    fig.legend([dots, ringed, *keys], ["variant", "Pareto front: nothing is both smaller and faster",
                                       *(shorten(_label(items[i]), 36) for i in front)],
               loc="outside right upper", fontsize=7)
    _spread(fig, numbers)
    return fig


def _pad_log(ax: Any, values: list[float], axis: str) -> None:
    """Limits a factor around the data on a log axis: room for the labels, and at least a factor 3 in
    all so the axis has tick labels even when every point is about the same. Ticks read as plain
    numbers (30, 0.02), not 3x10^1."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = min(values), max(values)
    pad = max(1.25, np.sqrt(3 * lo / hi))
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo / pad, hi * pad)
    which = ax.xaxis if axis == "x" else ax.yaxis

    def plain(value: float, _pos: object) -> str:
        """Label 1, 2, 5 x 10^k over a few decades, every tick within one, only 10^k beyond three."""
        if value <= 0:
            return ""
        low, high = sorted(which.get_view_interval())
        decades = np.log10(high / low) if low > 0 else 10.0
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        shown = mantissa == 1 or (decades <= 3 and mantissa in (2, 5)) or decades <= 1
        return f"{value:g}" if shown else ""

    which.set_major_formatter(FuncFormatter(plain))
    which.set_minor_formatter(FuncFormatter(plain))


def _spread(fig: Any, labels: list[Any]) -> None:
    """Move labels that overlap an earlier one up or down by a line (the small numbers of the front:
    moving them does not change the layout, one drawing measures them)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for ann in labels:
        dx, dy = ann.xyann
        step = ann.get_window_extent(renderer).height * 72 / fig.dpi + 1
        for shift in (0, -1, 1, -2, 2, -3, 3, -4, 4):
            ann.xyann = (dx, dy + shift * step)
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(ann.get_window_extent(renderer))


def energy(rows: list[dict], title: str) -> str | None:
    """Net energy per inference per variant and board; estimates (no sensor) hatched."""
    fig = energy_figure(rows, title)
    return None if fig is None else _svg(fig)


def energy_figure(rows: list[dict], title: str) -> Any | None:
    """The figure of ``energy``."""
    items = [r for r in rows if r.get("energy_mj_per_inference") is not None]
    if not items:
        return None
    fig, ax = _figure(9, 0.4 * len(items) + 1.5)
    ys = np.arange(len(items))[::-1]
    bars = ax.barh(ys, [r["energy_mj_per_inference"] for r in items], color=CURRENT)
    for bar, r in zip(bars, items, strict=True):
        if r.get("power_estimated"):
            bar.set_hatch("//")
            bar.set_facecolor("#9ecae1")
    ax.set_yticks(ys, [shorten(f"{r['device']}: {_label(r)}") for r in items])
    ax.set_xlabel("energy per inference, net of idle (mJ)\nhatched: ESTIMATED from CPU use, not measured")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def history(series: dict[str, list[tuple[str, float, float, float]]], title: str) -> str | None:
    """One line per cell across runs: the median of its repeats' medians, the band from the lowest to
    the highest repeat; ``series`` maps a label to [(run id, low, mid, high)] oldest first."""
    fig = history_figure(series, title)
    return None if fig is None else _svg(fig)


def history_figure(series: dict[str, list[tuple[str, float, float, float]]], title: str) -> Any | None:
    """The figure of ``history``: each line its own colour, marker and dash (``style``); the legend
    outside the axes on the right, in two columns past 16 lines; run ids as short dates, every k-th
    past 20 runs."""
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    runs = sorted({run for pts in series.values() for run, *_ in pts})
    xpos = {run: i for i, run in enumerate(runs)}
    ncols = 1 if len(series) <= 16 else 2
    fig, ax = _figure(6.5 + 3.3 * ncols, max(4.0, 0.17 * -(-len(series) // ncols) + 1.6))
    for i, (label, pts) in enumerate(series.items()):
        x = [xpos[p[0]] for p in pts]
        line, = ax.plot(x, [p[2] for p in pts], ms=4, lw=1.3, label=shorten(label), **style(i))
        ax.fill_between(x, [p[1] for p in pts], [p[3] for p in pts], alpha=0.12, color=line.get_color())
    ax.set_xlabel("run (UTC month-day hour:minute)" if all(_RUN_ID.match(r) for r in runs) else "run")
    ax.set_ylabel("median latency (ms)\nband: spread of the repeats")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7, ncols=ncols)
    _run_axis(fig, ax, run_ticks(runs))
    return fig


def _run_axis(fig: Any, ax: Any, labels: list[str]) -> None:
    """The runs' labels on the x axis, slanted; where neighbours would touch, every k-th one (k measured
    on one drawing with them all: the layout does not change the spacing of the ticks)."""
    def put(every: int) -> None:
        ticks = list(range(len(labels)))[::every]
        ax.set_xticks(ticks, [labels[t] for t in ticks], rotation=30, ha="right", rotation_mode="anchor",
                      fontsize=7)

    put(1)
    if len(labels) < 2:
        return
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    every = next(k for k in range(1, len(boxes) + 1)
                 if not any(a.overlaps(b) for a, b in zip(boxes, boxes[k:], strict=False)))
    if every > 1:
        put(every)


def sustain(curves: dict[str, list[dict]], title: str) -> str | None:
    """A sustained run (``record["sustain"]["per_second"]``): every variant's p50 per second over the
    window, together; below it the CPU temperature per second where the board has one, and the
    seconds with throttling flagged."""
    fig = sustain_figure(curves, title)
    return None if fig is None else _svg(fig)


def sustain_figure(curves: dict[str, list[dict]], title: str) -> Any | None:
    """The figure of ``sustain``: minutes on the x axis past a 5-minute window, else seconds."""
    curves = {k: [p for p in v if p.get("p50_ms") is not None] for k, v in curves.items()}
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return None
    temps = any(p.get("temp_c") is not None for v in curves.values() for p in v)
    span = max(p["t_s"] for v in curves.values() for p in v) + 1
    unit, div = ("min", 60.0) if span > 300 else ("s", 1.0)
    plt = _mpl()
    fig, axes = plt.subplots(2 if temps else 1, 1, sharex=True, squeeze=False, layout="constrained",
                             figsize=(9.5, 5.5 if temps else 4.0), height_ratios=[3, 1] if temps else [1])
    ax = axes[0][0]
    every = max(1, int(span // 40))  # markers every k-th second: lines stay readable
    for i, (label, points) in enumerate(curves.items()):
        x = [(p["t_s"] + 0.5) / div for p in points]
        line, = ax.plot(x, [p["p50_ms"] for p in points], ms=3, lw=1.2, markevery=every, label=shorten(label),
                        **style(i))
        hot = [(p["t_s"] + 0.5) / div for p in points if p.get("throttled")]
        if hot:
            ax.plot(hot, [0.02] * len(hot), "|", color=line.get_color(), ms=8, transform=ax.get_xaxis_transform())
        if temps:
            tx = [(p["t_s"] + 0.5) / div for p in points if p.get("temp_c") is not None]
            axes[1][0].plot(tx, [p["temp_c"] for p in points if p.get("temp_c") is not None], lw=1.0,
                            color=line.get_color(), linestyle=style(i)["linestyle"])
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_ylabel("p50 latency per second (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7)
    if temps:
        axes[1][0].set_ylabel("CPU (°C)")
        axes[1][0].grid(alpha=0.3)
    axes[-1][0].set_xlabel(f"time since the timed loop started ({unit}); | on the axis: a throttled second")
    return fig
