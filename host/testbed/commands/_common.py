"""Shared helpers for the `testbed` commands: consoles, one-line errors, option parsing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any

import click
from rich.console import Console

from ..errors import TestbedError

err_console = Console(stderr=True, highlight=False)


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
