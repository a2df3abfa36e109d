"""Where testbed keeps its state: ``$TESTBED_HOME`` or ``~/.testbed``; the zoo caches under it.

Defined here, in the leaf, so the zoo needs nothing of the host; ``testbed.paths`` re-exports both.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root of testbed's state: caches, the default SQLite store, the local agent's store."""
    path = Path(os.environ.get("TESTBED_HOME") or Path.home() / ".testbed").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A cache folder under ``home()/cache/<kind>`` (weights, artifacts, inputs)."""
    path = home() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
