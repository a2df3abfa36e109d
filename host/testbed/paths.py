"""Where testbed keeps its state on the host: ``$TESTBED_HOME`` or ``~/.testbed``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root of the host's state: caches, the default SQLite store, the local agent's store."""
    path = Path(os.environ.get("TESTBED_HOME") or Path.home() / ".testbed").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A cache folder under ``home()/cache/<kind>`` (weights, artifacts, inputs)."""
    path = home() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """The source checkout this package runs from (editable installs and the test suite)."""
    return Path(__file__).resolve().parents[2]
