"""The transport contract: reach a board's agent and put artifacts in its store."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from ..agent_client import AgentClient
from ..profiles import Profile

_T = TypeVar("_T", bound="Transport")


class Transport(ABC):
    """One connection to one board, reused for a whole deploy. Use as a context manager."""

    name: ClassVar[str]

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        # where a transport says what it waits for (a deploy points it at its progress line)
        self.notify: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    @abstractmethod
    def open(self) -> AgentClient:
        """Connect, start the agent when it is not running, and return a client for it."""

    def send(self, client: AgentClient, path: Path, sha256: str) -> int:
        """Make the artifact ``sha256`` present in the agent's store; return bytes sent (0 if already there)."""
        if client.has_artifact(sha256):
            return 0
        return client.upload(path, sha256)

    @abstractmethod
    def close(self) -> None:
        """Release the connection (and stop what this transport started, where it owns it)."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
