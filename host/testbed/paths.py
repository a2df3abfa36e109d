"""Where testbed keeps its state on the host: ``$TESTBED_HOME`` or ``~/.testbed``."""

from __future__ import annotations

from pathlib import Path

# Defined in the zoo (the leaf, which imports nothing of the host) and shared: one rule for $TESTBED_HOME.
from testbed_zoo.paths import cache_dir, home

__all__ = ["cache_dir", "home", "repo_root"]


def repo_root() -> Path:
    """The source checkout this package runs from (editable installs and the test suite)."""
    return Path(__file__).resolve().parents[2]
