"""Shared helpers for the `testbed` commands: consoles, one-line errors, option parsing."""

from __future__ import annotations

import sys

from rich.console import Console

from ..errors import TestbedError

err_console = Console(stderr=True, highlight=False)


def out_console() -> Console:
    """Tables are wide: when stdout is not a terminal (a file, CI log), do not wrap them at 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=240)


def fail(exc: TestbedError) -> None:
    """Print the error as one line and exit 2 (every result already gathered is stored)."""
    err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
    sys.exit(2)


def split(value: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None/'' -> None."""
    return [x.strip() for x in value.split(",") if x.strip()] if value else None
