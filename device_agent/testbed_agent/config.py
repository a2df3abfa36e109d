"""The agent's configuration, built by the CLI from flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "TESTBED_AGENT_TOKEN"
#: Test-only switch: when "1", run requests may carry ``debug_sleep_s`` (makes a worker hang).
ALLOW_DEBUG_ENV = "TESTBED_AGENT_ALLOW_DEBUG"
#: The default of ``serve --worker-start`` (forkserver or exec).
WORKER_START_ENV = "TESTBED_AGENT_WORKER_START"


@dataclass(frozen=True)
class AgentConfig:
    """Everything the server needs to start."""

    store: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    run_timeout_s: float = 300.0
    state_file: Path | None = None
    allow_debug: bool = False
    worker_start: str = "forkserver"  # forkserver (a fork per run) or exec (an interpreter per run)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the agent token must not be empty")


def allow_debug_from_env() -> bool:
    """True when the test-only debug fields are enabled (``TESTBED_AGENT_ALLOW_DEBUG=1``)."""
    return os.environ.get(ALLOW_DEBUG_ENV, "") == "1"
