"""Shared test set-up.

Every test session gets its own ``TESTBED_HOME`` (caches, SQLite store, local agent store), so the
suite never touches the user's ``~/.testbed`` and starts from nothing, like a new user.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for tests/helpers


def pytest_configure(config: pytest.Config) -> None:
    if "TESTBED_HOME" not in os.environ or not os.environ.get("TESTBED_TEST_KEEP_HOME"):
        os.environ["TESTBED_HOME"] = tempfile.mkdtemp(prefix="testbed-home-")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("TESTBED_TEST_FAST"):
        sys.meta_path.insert(0, _NoFrameworks())


class _NoFrameworks(importlib.abc.MetaPathFinder):
    """`make test-fast` (TESTBED_TEST_FAST=1): importing a framework is an error that says which marker
    the test lacks, so the fast tier stays honest even in a venv that has torch and TensorFlow."""

    FRAMEWORKS = frozenset({"torch", "tensorflow", "keras", "executorch", "litert_torch", "tf2onnx", "torchao",
                            "ai_edge_quantizer", "onnxscript"})

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.FRAMEWORKS:
            raise ImportError(f"{name} imported in `make test-fast`: mark the test @pytest.mark.framework "
                              "(it needs torch or TensorFlow)")
        return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests (nightly: an emulated aarch64 board) run only when asked for by ``-m slow``
    (`make test-arm64`); the default run (`make test`, CI) skips them and says so."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow (nightly) test: run it with `make test-arm64` (pytest -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A lab test (marker ``lab``) whose tools are missing fails and names the install script: a test
    that needs a tool never skips silently (scripts/install-system-deps.sh installs them all)."""
    if "lab" in item.keywords:
        from helpers import netns

        missing = netns.missing_tool(arm64="slow" in item.keywords)
        if missing:
            pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def testbed_home() -> Path:
    return Path(os.environ["TESTBED_HOME"])
