"""Lines that fit the terminal - counted in UTF-8 bytes as well as in cells.

A terminal counts cells, but much that reads our output counts bytes: ``awk length`` (mawk), ``cut
-c`` in the C locale, log viewers. An en dash (the table's "no value") is one cell and three bytes,
``±`` and ``Δ`` two. So what we print is sized on its bytes: a table is checked line by line, and
text is wrapped a few cells short of the width when it holds such characters - a handful of cells
on a 120-column terminal, and no line that a byte-counting tool finds too long.
"""

from __future__ import annotations

import io
from typing import Any

from rich.box import Box
from rich.console import Console, RenderableType
from rich.text import Text

#: A rule under the header and nothing else, in ASCII (rich's SIMPLE_HEAD draws it with "─": 3 bytes a cell).
HEADER_RULE = Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def widest_line(renderable: RenderableType) -> int:
    """The longest line of ``renderable`` at its natural width, in UTF-8 bytes."""
    console = Console(width=10_000, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return max((len(line.encode()) for line in capture.get().splitlines()), default=0)


def extra_bytes(text: str | Text) -> int:
    """How many more UTF-8 bytes than characters ``text`` has (markup tags are ASCII: they add none)."""
    plain = text.plain if isinstance(text, Text) else text
    return len(plain.encode()) - len(plain)


def say(console: Console, text: str | Text, **kwargs: Any) -> None:
    """Print ``text`` wrapped so that no line is longer than the console's width in bytes."""
    console.print(text, width=max(console.width - extra_bytes(text), 20), **kwargs)
