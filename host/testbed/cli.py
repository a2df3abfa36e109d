"""`testbed` command line. Commands live one per module in ``commands/`` and are thin: they parse
options and call the library."""

from __future__ import annotations

import click

from . import __version__
from .commands import register_all


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="testbed")
def main() -> None:
    """Convert ML models for edge boards, measure them on the board, compare."""


register_all(main)

if __name__ == "__main__":
    main()
