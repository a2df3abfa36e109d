"""Fixtures shared by the unit tests (test modules request them by name; pytest finds them here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated, empty TESTBED_HOME for one test module, so its weight and stats caches start empty.

    A module uses it for all its tests with ``pytestmark = pytest.mark.usefixtures("isolated_home")``
    (the zoo tests); a test that needs the path requests ``isolated_home`` by name.
    """
    home = tmp_path_factory.mktemp("testbed_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(home))
        yield home
