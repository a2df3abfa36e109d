"""The HTML report's plots read: rendered here (Agg) with long labels, many lines and many runs, every
text lies inside the figure, tick labels and the Pareto front's numbers do not overlap, history lines
differ in marker and dash as well as colour (a colour-blind-safe palette), and size vs latency is on
log axes."""

from __future__ import annotations

import io
import itertools
import struct
from typing import Any

import numpy as np
import pytest

from testbed.report import plots

CONVERTERS = ["onnx-torch-fp32", "onnx-torch-int8-dynamic", "onnx-torch-int8-static", "tflite-keras-fp32",
              "tflite-keras-fp16", "tflite-keras-int8-static", "executorch-torch-fp32", "tflite-torch-int8-static",
              "onnx-keras-fp32", "tflite-torch-fp32", "executorch-torch-int8-static"]
MODELS = ["mobilenet_v3_small", "a_user_model_with_a_very_long_file_name_indeed.onnx"]


def _rows() -> list[dict]:
    rows = []
    for m, model in enumerate(MODELS):
        for j, conv in enumerate(CONVERTERS):
            rows.append({"key": f"pi4/{model}/{conv}/t4", "device": "pi4", "model": model, "converter": conv,
                         "threads": 4, "size_bytes": int((1 + j) * 250_000 * (10 if m == 0 else 0.05)),
                         "p50_ms": float((1 + (len(CONVERTERS) - j) ** 1.3) * (5 if m == 0 else 0.02)),
                         "energy_mj_per_inference": 1.5 + j, "power_estimated": j % 2 == 0})
    return rows


def _series(n_series: int, n_runs: int) -> dict[str, list[tuple[str, float, float, float]]]:
    runs = [f"202601{1 + d // 24:02d}-{d % 24:02d}0000-{d:04x}" for d in range(n_runs)]
    labels = [f"{r['model']} {r['converter']} t4" for r in _rows()][:n_series]
    return {label: [(run, i + 0.9, i + 1 + 0.01 * k, i + 1.1) for k, run in enumerate(runs)]
            for i, label in enumerate(labels)}


def _drawn_ticklabels(axis: Any) -> list[Any]:
    """The tick labels matplotlib draws: those with text at a tick inside the axis's view (it makes
    labels for ticks just outside too, and does not draw them)."""
    lo, hi = sorted(axis.get_view_interval())
    at = 0 if axis.axis_name == "x" else 1
    return [t for t in axis.get_ticklabels(which="both")
            if t.get_visible() and t.get_text() and lo - 1e-12 <= t.get_position()[at] <= hi + 1e-12]


def _texts(fig: Any) -> list[Any]:
    """Every text the figure draws."""
    from matplotlib.text import Text

    ticklabels = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                  for t in axis.get_ticklabels(which="both")}
    drawn = [t for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in _drawn_ticklabels(axis)]
    return drawn + [t for t in fig.findobj(Text)
                    if id(t) not in ticklabels and t.get_visible() and t.get_text().strip()]


def assert_readable(fig: Any) -> None:
    """Drawn: every text inside the figure, and the tick labels of each axis apart."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = fig.bbox.padded(1)  # a pixel of rounding
    texts = _texts(fig)
    assert texts
    for text in texts:
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, (
            text.get_text(), box, fig.bbox)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = _drawn_ticklabels(axis)
            for a, b in itertools.combinations(labels, 2):
                assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (
                    a.get_text(), b.get_text())


def png_size(fig: Any) -> tuple[int, int, int]:
    """(width px, height px, bytes) of the figure saved as PNG, as the report's SVG is saved (tight)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height, len(data)


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(("n_series", "n_runs"), [(1, 1), (3, 5), (22, 30)])
def test_history_reads_with_many_lines_and_runs(n_series: int, n_runs: int) -> None:
    fig = plots.history_figure(_series(n_series, n_runs), "pi4: median latency per run")
    assert_readable(fig)
    width, height, size = png_size(fig)
    figure_px = fig.get_size_inches() * 100
    assert 0.8 * figure_px[0] <= width <= 1.05 * figure_px[0] and 0.8 * figure_px[1] <= height <= 1.05 * figure_px[1]
    assert size > 15_000  # something was drawn
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() and not line.get_label().startswith("_")]
    looks = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(set(looks)) == len(looks) == n_series
    assert {c for c, _, _ in looks} <= set(plots.PALETTE)
    if n_series > 1:
        assert len({m for _, m, _ in looks}) > 1 and len({ls for _, _, ls in looks}) > 1  # not colour alone
    legend = fig.legends[0]
    assert len(legend.get_texts()) == n_series
    assert all(len(t.get_text()) <= plots.LABEL_CHARS for t in legend.get_texts())


def test_line_styles_pair_colour_with_marker_and_dash() -> None:
    looks = [tuple(plots.style(i).values()) for i in range(56)]
    assert len(set(looks)) == 56
    same_colour = [(a, b) for a, b in itertools.combinations(looks, 2) if a[0] == b[0]]
    assert all(a[1] != b[1] for a, b in same_colour)  # same colour: another marker


def test_size_vs_latency_is_on_log_axes_and_numbers_only_the_front() -> None:
    rows = _rows()
    fig = plots.size_vs_latency_figure(rows, "pi4: size vs median latency")
    assert_readable(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    front = plots.pareto_front([(r["size_bytes"] / 1024, r["p50_ms"]) for r in rows])
    numbers = [t for t in ax.texts if t.get_visible()]
    assert sorted(int(t.get_text()) for t in numbers) == list(range(1, len(front) + 1))
    renderer = fig.canvas.get_renderer()
    for a, b in itertools.combinations(numbers, 2):
        assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (a.get_text(), b.get_text())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == 2 + len(front) and legend[2].startswith(MODELS[1][:10])  # the smallest: the user model
    width, height, size = png_size(fig)
    assert width > 600 and height > 350 and size > 15_000


def test_size_vs_latency_of_one_point_or_a_narrow_range_has_tick_labels() -> None:
    for rows in ([_rows()[0]], [_rows()[0] | {"size_bytes": 1000_000, "p50_ms": 10.0},
                               _rows()[1] | {"size_bytes": 1010_000, "p50_ms": 10.2}]):
        fig = plots.size_vs_latency_figure(rows, "one board")
        assert_readable(fig)
        for axis in (fig.axes[0].xaxis, fig.axes[0].yaxis):
            assert _drawn_ticklabels(axis), "an axis without a single number"


def test_latency_and_energy_read_with_long_labels() -> None:
    rows = _rows()[::2]
    rng = np.random.default_rng(0)
    samples = {r["key"]: [rng.lognormal(np.log(r["p50_ms"]), 0.1, 200)] for r in rows}
    baseline = {rows[0]["key"]: samples[rows[0]["key"]]}
    for fig in (plots.latency_figure(rows, samples, baseline, "pi4: latency"),
                plots.energy_figure(rows, "energy per inference, net of idle")):
        assert_readable(fig)
        assert all(len(t.get_text()) <= plots.LABEL_CHARS for t in fig.axes[0].get_yticklabels())
        assert png_size(fig)[2] > 15_000


def test_the_report_functions_still_return_inline_svg() -> None:
    rows = _rows()
    for svg in (plots.size_vs_latency(rows, "t"), plots.energy(rows, "t"), plots.history(_series(3, 4), "t")):
        assert svg is not None and svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert plots.history({}, "t") is None and plots.size_vs_latency([], "t") is None


def test_run_ticks_are_short_and_unique() -> None:
    assert plots.run_ticks(["20250131-020000-1a2b", "20250201-031500-ffff"]) == ["01-31 02:00", "02-01 03:15"]
    assert plots.run_ticks(["20250131-020000-1a2b", "20250131-020030-1a2c"]) == ["01-31 02:00:00", "01-31 02:00:30"]
    assert plots.run_ticks(["20250131-020000-1a2b", "20250131-020000-1a2c"]) == [
        "20250131-020000-1a2b", "20250131-020000-1a2c"]
    assert plots.run_ticks(["nightly-" + "x" * 40]) == [plots.shorten("nightly-" + "x" * 40, 20)]
    assert plots.shorten("a" * 100, 20) == "a" * 9 + "…" + "a" * 10
