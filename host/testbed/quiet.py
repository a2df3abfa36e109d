"""Keep converter/runtime chatter (TensorFlow, absl, torch warnings) off the user's terminal.

Framework libraries write to file descriptor 2 from C++ and Python alike. While a command runs,
fd 2 points at a log file; testbed's own messages go to a duplicate of the original stderr.
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
    """Redirect fd 2 to ``log``; yield a text stream on the real stderr for our own messages."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    ui = os.fdopen(os.dup(2), "w", buffering=1)
    with open(log, "a") as fh:
        os.dup2(fh.fileno(), 2)
    try:
        yield ui
    finally:
        sys.stderr.flush()
        os.dup2(ui.fileno(), 2)
        ui.close()
