"""Fixtures shared by the integration tests: a real agent process and the tiny dense models.

Test modules request them by name (pytest finds them here); the helpers they build on (``Agent``,
``start_agent``, the model builders, ...) are imported from ``agent_fixtures``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from agent_fixtures import BUILDERS, IN_FEATURES, OUT_FEATURES, Agent, start_agent, stop_agent


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """An agent with the test-only debug fields enabled, shared by a test module."""
    started = start_agent(tmp_path_factory.mktemp("agent") / "store",
                          env={"TESTBED_AGENT_ALLOW_DEBUG": "1"}, args=["--run-timeout-s", "120"])
    yield started
    stop_agent(started)


@pytest.fixture(scope="session")
def dense_weights() -> tuple[np.ndarray, np.ndarray]:
    """W [IN, OUT] and b [OUT] shared by the three models."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal((IN_FEATURES, OUT_FEATURES)).astype(np.float32),
            rng.standard_normal(OUT_FEATURES).astype(np.float32))


@pytest.fixture(scope="session")
def dense_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(.npz bytes, timing [1, IN], eval [6, IN]) for the dense models."""
    rng = np.random.default_rng(11)
    timing = rng.standard_normal((1, IN_FEATURES)).astype(np.float32)
    evals = rng.standard_normal((6, IN_FEATURES)).astype(np.float32)
    path = tmp_path_factory.mktemp("inputs") / "inputs.npz"
    np.savez(path, timing=timing, eval=evals)
    return path.read_bytes(), timing, evals


@pytest.fixture(scope="session")
def dense_model(dense_weights: tuple[np.ndarray, np.ndarray]) -> Callable[[str], bytes]:
    """``dense_model(runtime) -> bytes``: the dense layer as that runtime's artifact (built once)."""
    built: dict[str, bytes] = {}

    def get(runtime: str) -> bytes:
        if runtime not in built:
            built[runtime] = BUILDERS[runtime](*dense_weights)
        return built[runtime]

    return get
