"""The framework verdict on the terminal: the paragraph, then one compact table per (model, board).

Two rows per pair, the PyTorch side first: the pair (format, then precision), each side's variant
(never wrapped), its median, size, model memory, energy and agreement with its source, and the
verdict (headline, then the interval). Columns with nothing to say for any side are left out; on a
narrow terminal energy, memory, size and agreement give way in that order, and a line says so. The
whole reason of a side that was not measured is printed under the table.

Lines fit the width in UTF-8 bytes as well as in cells, as the deploy table's (``report.width``: tools
like ``awk length`` count bytes): the table is ASCII (its rule, "-" for no figure) and measured in
bytes, the paragraph and notes are wrapped short by the bytes their "µ" or "—" add.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.box import Box
from rich.console import Console, RenderableType
from rich.constrain import Constrain
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..errors import TestbedError
from .pairs import Side
from .verdict import NO_DIFFERENCE, NOT_COMPARED, NOT_JUDGED, FrameworkVerdict, PathPair, interval, side_name

if TYPE_CHECKING:
    from ..store import Store

#: Optional columns: header, cell of a side, and the order in which they give way on a narrow terminal.
Cell = Callable[[Side], str]
OPTIONAL: list[tuple[str, str, Cell]] = [
    ("agreement", "Agreement", lambda s: _agreement(s)),
    ("size", "Size\n(KB)", lambda s: _num(s.size_bytes / 1024 if s.size_bytes else None, ".1f")),
    ("memory", "Model\n(MB)", lambda s: _num(s.model_memory_mb, ".1f")),
    ("energy", "Energy\n(mJ/inf)", lambda s: _num(s.energy_mj_per_inference, ".3g") + (" est." if s.energy_estimated
                                                                                           else "")),
]
GIVE_WAY = ("energy", "memory", "size", "agreement")
STATUS_STYLE = {"failed": "red", "error": "red"}  # else yellow (absent, skipped, pending)
NONE = "-"  # no figure: ASCII, one byte (the table is ASCII throughout)
#: A rule under the header and nothing else, in ASCII (as ``report.width.HEADER_RULE``, a layer above).
HEADER_RULE = Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def render(verdicts: list[FrameworkVerdict], console_width: int) -> list[RenderableType]:
    """Per verdict: its paragraph, its table fitted to ``console_width``, and its notes."""
    out: list[RenderableType] = []
    for verdict in verdicts:
        out.append(_text(verdict.summary(), console_width))
        if not verdict.pairs:
            continue
        pairs = verdict.ordered()
        shown = [key for key, _, cell in OPTIONAL
                 if any(cell(s) not in (NONE, "") for p in pairs for s in (p.pytorch, p.tensorflow))]
        left_out: list[str] = []
        table = _table(verdict, pairs, shown)
        for key in GIVE_WAY:
            if _width(table) <= console_width or key not in shown:
                continue
            shown.remove(key)
            left_out.append(key)
            table = _table(verdict, pairs, shown)
        out.append(table)
        if left_out:
            out.append(Text(f"Not shown at this width: {', '.join(reversed(left_out))} (`--json` has them all).",
                            style="dim"))
        out += [_text(line, console_width) for line in notes(verdict)]
    return out


def print_after_deploy(console: Console, store: Store, run_id: str) -> None:
    """What `testbed deploy` prints after its table: the framework verdict of the run. A store that
    cannot be read is one line on the console, not the deploy's failure (its results are stored)."""
    from .stored import for_run

    try:
        verdicts = for_run(store, run_id)
    except TestbedError as exc:
        console.print(f"framework verdict not available: {exc}", highlight=False, markup=False)
        return
    console.print()
    for renderable in render(verdicts, console.width):
        console.print(renderable)


LEGEND = ("Verdict: the faster side, how many times faster (median latency), and the interval from a seeded bootstrap "
          "of the raw samples; no clear difference: the interval of the Keras/PyTorch time ratio covers 1.")


def notes(verdict: FrameworkVerdict) -> list[str]:
    """The legend, the whole reason of every side not measured (variants that share one, on one line),
    and what "est." means where it appears."""
    lines = [LEGEND]
    reasons: dict[tuple[str, str], list[str]] = {}
    for pair in verdict.ordered():
        for side in (pair.pytorch, pair.tensorflow):
            if side.status != "ok" and side.reason:
                names = reasons.setdefault((side.status, side.reason), [])
                if side.variant not in names:
                    names.append(side.variant)
    lines += [f"{', '.join(names)} {status}: {reason}" for (status, reason), names in reasons.items()]
    if any(p.pytorch.energy_estimated or p.tensorflow.energy_estimated for p in verdict.pairs):
        lines.append("est.: the energy is ESTIMATED from CPU utilisation (a model, not a sensor).")
    return lines


def _table(verdict: FrameworkVerdict, pairs: list[PathPair], shown: list[str]) -> Table:
    table = Table(title=f"{verdict.model} on {verdict.device}: PyTorch vs TensorFlow paths", title_justify="left",
                  box=HEADER_RULE, pad_edge=False)
    table.add_column("Pair", no_wrap=True)
    table.add_column("Variant", no_wrap=True)
    table.add_column("p50\n(ms)", justify="right", no_wrap=True)
    cells = [(header, cell) for key, header, cell in OPTIONAL if key in shown]
    for header, _ in cells:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Verdict")
    several = len({p.threads for p in pairs}) > 1
    for pair in pairs:
        head, tail = _verdict(pair)
        top, bottom = _pair_name(pair, several)
        for side, name, words in ((pair.pytorch, top, head), (pair.tensorflow, bottom, tail)):
            figures = [escape(cell(side)) for _, cell in cells]
            table.add_row(escape(name), escape(side.variant), _p50(side), *figures, words,
                          end_section=side is pair.tensorflow)
    return table


def _pair_name(pair: PathPair, several_threads: bool) -> tuple[str, str]:
    """The pair's two lines: format (``ONNX``, ``native``, ``frameworks``; threads when several), precision."""
    top = pair.family
    if several_threads and pair.threads is not None:
        top += f" t{pair.threads}"
    return top, pair.precision


def _verdict(pair: PathPair) -> tuple[str, str]:
    """The verdict's two lines: ``[green]Keras 1.30x faster[/]`` / ``95% CI 1.25-1.35``."""
    if pair.verdict == NOT_COMPARED:
        gone = [s for s in (pair.pytorch, pair.tensorflow) if not s.measured]
        if len(gone) == 2 and gone[0].status == gone[1].status:
            return "[yellow]not compared[/]", escape(f"both {gone[0].status}")
        return "[yellow]not compared[/]", escape(", ".join(f"{side_name(s)} {s.status}" for s in gone))
    if pair.verdict == NOT_JUDGED:
        return "[yellow]not judged[/]", f"ratio {pair.ratio:.2f}x, no CI"
    assert pair.ci is not None
    level = f"{pair.confidence:.0%} CI"
    if pair.verdict == NO_DIFFERENCE:
        return "no clear difference", escape(f"{pair.ratio:.2f}x {interval(pair.ci)}")
    assert pair.speedup is not None and pair.speedup_ci is not None
    fast, _ = pair.faster_slower()
    return (f"[green]{escape(side_name(fast))} {pair.speedup:.2f}x faster[/]",
            f"{level} {interval(pair.speedup_ci)[1:-1]}")


def _p50(side: Side) -> str:
    """The median, four significant digits (``2.600``, ``0.1225``); a side not measured: its status."""
    if side.status != "ok":
        return f"[{STATUS_STYLE.get(side.status, 'yellow')}]{escape(side.status)}[/]"
    return _num(side.p50_ms, "#.4g").rstrip(".")


def _agreement(side: Side) -> str:
    """The agreement without its ``top-1`` word (the header says Agreement)."""
    return (side.agreement or NONE).removeprefix("top-1 ")


def _num(value: float | None, fmt: str) -> str:
    return NONE if value is None else format(value, fmt)


def _text(text: str, width: int) -> RenderableType:
    """``text`` wrapped so that no line is longer than ``width`` in UTF-8 bytes."""
    extra = len(text.encode()) - len(text)
    return Constrain(Text(text), width=max(width - extra, 20))


def _width(table: Table) -> int:
    """The table's natural width (what it takes on a terminal wide enough), in UTF-8 bytes."""
    console = Console(width=10_000, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(table)
    return max((len(line.encode()) for line in capture.get().splitlines()), default=0)
