"""The transport contract: reach a board's agent and put artifacts in its store.

Like httpx's transports, the contract is small and typed: ``open()`` returns a ``BoardClient``,
``send()`` puts an artifact there, ``close()`` lets go. What a transport can do beyond that is
said by the small protocols of ``capabilities.py`` that it implements, never by its name.

A transport plug-in also owns its profile section: ``Settings`` (a ``TransportSettings`` model)
is validated as the profile's ``<name>:`` section (``ssh:``, ``adb:``); ``None`` = no section.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .progress import Upload

_T = TypeVar("_T", bound="Transport")
_S = TypeVar("_S", bound="TransportSettings")


class TransportSettings(BaseModel):
    """A transport's profile section (strict: an unknown key is an error naming it)."""

    model_config = ConfigDict(extra="forbid")

    def where(self) -> str:
        """Where the board is, in a few words (``testbed devices``)."""
        return "-"


class AgentSettings(BaseModel):
    """Where and how the device agent runs on the board (the profile's ``agent:`` section)."""

    model_config = ConfigDict(extra="forbid")

    python: str = "python3"  # interpreter with testbed (agent) installed, e.g. ~/testbed-agent/venv/bin/python
    port: int = Field(default=8765, ge=0, le=65535)  # agent port on the board's 127.0.0.1 (0 = any free port)
    home: str = "~/.testbed-agent"  # agent state on the board: store/, token, agent.json, agent.log
    start_timeout_s: float = Field(default=60.0, gt=0)  # how long to wait for a started agent to answer
    # Offline board (no route to PyPI): a folder on *this host* that `testbed agent install` fills
    # with the board's wheels and installs from, as with --wheelhouse; None = the board's own pip.
    wheelhouse: str | None = None


class _RunLimits(Protocol):
    @property
    def timeout_s(self) -> float: ...


class BoardProfile(Protocol):
    """What a transport reads of a device profile (``profiles.Profile`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def agent(self) -> AgentSettings: ...

    @property
    def measure(self) -> _RunLimits: ...

    @property
    def connection(self) -> TransportSettings | None: ...


@runtime_checkable
class BoardClient(Protocol):
    """What an opened transport hands a deploy: the agent's HTTP client (``AgentClient``), or a
    stand-in that answers the same calls (``android.board.AdbBoard``)."""

    where: str

    def health(self) -> dict: ...

    def info(self) -> dict: ...

    def has_artifact(self, sha256: str) -> bool: ...

    def upload(self, path: Path, sha256: str) -> int: ...

    def start_run(self, request: dict) -> str: ...

    def get_run(self, run_id: str) -> dict: ...

    def wait_run(self, run_id: str, timeout_s: float, poll_s: float = 0.1) -> dict: ...

    def close(self) -> None: ...


class Transport(ABC):
    """One connection to one board, reused for a whole deploy. Use as a context manager."""

    name: ClassVar[str]
    #: what boards it reaches, in a few words, for messages ("boards reached over SSH")
    about: ClassVar[str] = ""
    #: the profile section this transport owns (``<name>:`` in the YAML); None = it takes none
    Settings: ClassVar[type[TransportSettings] | None] = None

    def __init__(self, profile: BoardProfile) -> None:
        self.profile = profile
        # where a transport says what it waits for (a deploy points it at its progress line)
        self.notify: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    def settings(self, kind: type[_S]) -> _S:
        """The profile's section for this transport, checked to be a ``kind``."""
        section = self.profile.connection
        if not isinstance(section, kind):
            raise TypeError(f"profile '{self.profile.id}': transport '{self.name}' needs a "
                            f"{kind.__name__} section, got {type(section).__name__}")
        return section

    @abstractmethod
    def open(self) -> BoardClient:
        """Connect, start the agent when it is not running, and return a client for it."""

    def send(self, client: BoardClient, path: Path, sha256: str, progress: Upload | None = None) -> int:
        """Make the artifact ``sha256`` present in the agent's store; return bytes sent (0 if already there).
        ``progress(sent, total)`` hears how far the file is (here: before and after the agent's upload
        call, which sends it whole; a transport that streams it says more)."""
        if client.has_artifact(sha256):
            return 0
        size = path.stat().st_size
        if progress is not None:
            progress(0, size)
        sent = client.upload(path, sha256)
        if progress is not None:
            progress(size, size)
        return sent

    @abstractmethod
    def close(self) -> None:
        """Release the connection (and stop what this transport started, where it owns it)."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
