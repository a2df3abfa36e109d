"""Keep converter/runtime chatter (TensorFlow, absl, torch warnings) off the user's terminal.

Framework libraries write to file descriptors 1 and 2, from C++ and Python alike, in this process
and in the conversion workers it starts (which inherit both). While a command converts and
measures, both point at a log file (``$TESTBED_HOME/logs/tools.log``); testbed's own messages go to
a duplicate of the original stderr, and its tables and JSON are printed after the block, on the
original stdout - which a tool's stray ``printf`` can then neither garble nor turn into invalid JSON.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def tool_output_to(log: Path) -> Iterator[IO[str]]:
    """Redirect fds 1 and 2 to ``log``; yield a text stream on the real stderr for our own messages."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    ui = os.fdopen(os.dup(2), "w", buffering=1)
    out = os.dup(1)
    with open(log, "a") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
    try:
        yield ui
    finally:
        sys.stdout.flush()  # what a tool printed through Python's buffered stdout belongs in the log too
        sys.stderr.flush()
        os.dup2(out, 1)
        os.close(out)
        os.dup2(ui.fileno(), 2)
        ui.close()
