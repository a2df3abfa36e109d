"""Shared helpers for the `testbed` commands: consoles, one-line errors, option parsing."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import click
from rich.console import Console

from ..errors import TestbedError

err_console = Console(stderr=True, highlight=False)

#: ``--model`` on every command that takes one: what a model reference may be (models/user.py reads them).
MODEL_HELP = ("The model: a zoo id (`testbed models`), a file (.onnx or .tflite used as is, .pt2, .keras, a "
              "SavedModel folder) or package.module:function returning (model, example_inputs).")
#: ``--sources`` (converters/base.py SOURCES): where a variant starts from.
SOURCES_HELP = ("Comma list of what variants start from: pytorch, keras (a zoo model's or your model's "
                "framework), onnx, tflite (your own .onnx/.tflite file used as is). Default: all the model has.")


def out_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """The console for tables and notes (stdout, stderr or ``file``): a terminal's width, or ``$COLUMNS``
    where it is set. A file or pipe without ``$COLUMNS`` (a CI log) is not wrapped at rich's 80
    columns but at 240."""
    console = Console(file=file, stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console
    return Console(file=file, stderr=stderr, width=240)


def one_line(update: Callable[[Any], object], console: Console) -> Callable[[str], None]:
    """A status line's ``update`` for plain text: shown as is (not as markup) and cut to one line of
    ``console``, so a long variant name or reason does not wrap the spinner's line."""
    from rich.text import Text

    def show(text: str) -> None:
        room = max(console.width - 3, 10)  # the spinner and its space
        update(Text(text if len(text) <= room else text[:room - 1] + "…"))
    return show


@contextlib.contextmanager
def status_line(console: Console, first: str = "starting") -> Iterator[Callable[[str], None]]:
    """``update(text)`` for what a command does now: a spinner's line on a terminal; elsewhere (a CI log,
    ``2>file``) each new text as a plain line, since rich shows a spinner only on a terminal."""
    if console.is_terminal:
        with console.status(first) as status:
            yield one_line(status.update, console)
        return
    last: list[str] = []

    def line(text: str) -> None:
        if last != [text]:
            last[:] = [text]
            with contextlib.suppress(ValueError, OSError):  # a closed stream after the command ended
                console.print(text, highlight=False, markup=False, soft_wrap=True)
    yield line


def print_list(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]],
               styles: Sequence[str] | None = None) -> None:
    """A list command's table (`testbed models`, `testbed devices`): a header, an ASCII rule, columns
    aligned two spaces apart; the last column is cut with "..." where a line would pass the console's
    width in UTF-8 bytes (the command's ``--json`` has it whole). Plain text, never markup: a
    description may hold brackets. ``styles``: one rich style per row, "" for none; a row with a
    style is a problem (an invalid profile) and is printed whole: its reason is the point of it."""
    from rich.text import Text

    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers[:-1])]
    room = max(console.width, 40)

    def line(cells: Sequence[str], whole: bool = False) -> str:
        text = "  ".join([*(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True)), cells[-1]]).rstrip()
        if whole or len(text.encode()) <= room:
            return text
        cut = text.encode()[:room - 3].decode(errors="ignore")
        return cut.rstrip() + "..."

    last = max([len(headers[-1]), *(len(row[-1]) for row in rows)])
    rule = "  ".join("-" * w for w in [*widths, last])
    console.print(Text(line(headers), style="bold"), soft_wrap=True)
    console.print(Text(rule[:room]), soft_wrap=True)
    for row, style in zip(rows, styles or [""] * len(rows), strict=True):
        console.print(Text(line(row, whole=bool(style)), style=style), soft_wrap=True)


def fail(exc: TestbedError) -> None:
    """Print the error as one line and exit 2 (every result already gathered is stored)."""
    err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
    sys.exit(2)


def split(value: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None/'' -> None."""
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def model_input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--input-shape NAME=dims`` (repeatable) and ``--inputs FILE.npz``: what a model with dynamic
    dimensions or real data needs (folded into the model reference, ``testbed_zoo.model_ref``)."""
    command = click.option("--inputs", "inputs_file", metavar="FILE.npz", type=click.Path(dir_okay=False),
                           help="Your own inputs: an .npz with one array [N, ...] per model input, named as "
                                "the model names them; sample 0 is timed, all N judge parity.")(command)
    return click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=DIMS",
                        help="The concrete shape of an input with dynamic dimensions, e.g. "
                             "--input-shape input_ids=1,128 (repeat per input; like benchmark_model "
                             "--input_layer_shape).")(command)


def with_inputs(model_id: str | None, input_shapes: tuple[str, ...], inputs_file: str | None) -> str | None:
    """The model reference carrying the input options (the model id itself when none are given)."""
    if model_id is None or (not input_shapes and not inputs_file):
        return model_id
    from testbed_zoo.model_ref import compose

    return compose(model_id, input_shapes, inputs_file)
