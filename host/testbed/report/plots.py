"""Plots for the HTML report, drawn with matplotlib (Agg) and returned as inline SVG text.

Every function returns one ``<svg ...>`` element (no XML header), or None when there is nothing to
draw. No file, no network, no JavaScript: the report stays one self-contained file.
"""

from __future__ import annotations

import io
import re
from types import ModuleType
from typing import Any

import numpy as np

CURRENT, BASELINE, FRONT = "#1f77b4", "#b0b0b0", "#d62728"
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def _mpl() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10,
                         "svg.hashsalt": "testbed"})  # stable ids: the same data gives the same SVG
    return plt


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
    items = [(r, np.concatenate(samples[r["key"]])) for r in rows if samples.get(r["key"])]
    if not items:
        return None
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(items) + 1.3))
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
        labels.append(_label(row))
    box = ax.boxplot(data, positions=pos, vert=False, widths=0.3, whis=(5, 95), showfliers=False,
                     patch_artist=True, medianprops={"color": "black"})
    for patch, color in zip(box["boxes"], colors, strict=True):
        patch.set_facecolor(color)
    ax.set_yticks(ticks, labels)
    lo = min(float(np.percentile(d, 5)) for d in data)
    hi = max(float(np.percentile(d, 95)) for d in data)
    if lo > 0 and hi / lo > 8:
        ax.set_xscale("log")
    ax.set_xlabel("latency per inference (ms); box p25-p75, whiskers p5-p95")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=CURRENT, label="this run")]
    if any(c == BASELINE for c in colors):
        handles.append(plt.Rectangle((0, 0), 1, 1, color=BASELINE, label="baseline"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


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
    """Artifact size against median latency; the Pareto front (nothing both smaller and faster) in red."""
    items = [r for r in rows if r.get("size_bytes") and r.get("p50_ms")]
    if not items:
        return None
    plt = _mpl()
    pts = [(r["size_bytes"] / 1024, r["p50_ms"]) for r in items]
    front = pareto_front(pts)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=CURRENT, zorder=3, label="variant")
    fp = sorted(pts[i] for i in front)
    ax.step([p[0] for p in fp], [p[1] for p in fp], where="post", color=FRONT, zorder=2, label="Pareto front")
    ax.scatter([p[0] for p in fp], [p[1] for p in fp], color=FRONT, zorder=4)
    for r, p in zip(items, pts, strict=True):
        ax.annotate(_label(r), p, textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("artifact size (KB)")
    ax.set_ylabel("median latency (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def energy(rows: list[dict], title: str) -> str | None:
    """Net energy per inference per variant and board; estimates (no sensor) hatched."""
    items = [r for r in rows if r.get("energy_mj_per_inference") is not None]
    if not items:
        return None
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(items) + 1.3))
    ys = np.arange(len(items))[::-1]
    bars = ax.barh(ys, [r["energy_mj_per_inference"] for r in items], color=CURRENT)
    for bar, r in zip(bars, items, strict=True):
        if r.get("power_estimated"):
            bar.set_hatch("//")
            bar.set_facecolor("#9ecae1")
    ax.set_yticks(ys, [f"{r['device']}: {_label(r)}" for r in items])
    ax.set_xlabel("energy per inference, net of idle (mJ); hatched = ESTIMATED from CPU use, not measured")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def history(series: dict[str, list[tuple[str, float, float, float]]], title: str) -> str | None:
    """One line per cell across runs: the median of its repeats' medians, the band from the lowest to
    the highest repeat; ``series`` maps a label to [(run id, low, mid, high)] oldest first."""
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    plt = _mpl()
    runs = sorted({run for pts in series.values() for run, *_ in pts})
    xpos = {run: i for i, run in enumerate(runs)}
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, pts in series.items():
        x = [xpos[p[0]] for p in pts]
        line, = ax.plot(x, [p[2] for p in pts], marker="o", ms=3, label=label)
        ax.fill_between(x, [p[1] for p in pts], [p[3] for p in pts], alpha=0.15, color=line.get_color())
    ax.set_xticks(range(len(runs)), [r[:15] for r in runs], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("median latency (ms); band: spread of the repeats")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig)
