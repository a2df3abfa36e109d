"""Shared by the zoo test modules: the parity tolerance and an isolated, empty ``TESTBED_HOME``.

Import the fixture into a test module (``from helpers.zoo import isolated_home``) to make it
autouse there, as ``testbed_home``; each module gets its own home, so its weight and stats caches start empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

PARITY_ATOL = 1e-4


@pytest.fixture(scope="module", autouse=True, name="testbed_home")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated TESTBED_HOME so the weight and stats caches start empty for this module."""
    home = tmp_path_factory.mktemp("testbed_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(home))
        yield home
