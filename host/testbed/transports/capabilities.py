"""What a transport can do beyond ``open/send/close``, as small protocols it implements.

Commands ask for a capability, never for a transport by name: ``isinstance(transport,
ManagesAgent)`` on an instance, ``issubclass(cls, SharesThisMachine)`` on a registered class (only
protocols made of methods allow that). A transport without the capability gets one clear line from
``require()``, naming the transports that have it.

=================  ====================================================  ===========
protocol           what it means                                          built in
=================  ====================================================  ===========
RunsCommands       ``exec(command)``: a shell command on the board        ssh
PutsFiles          ``put``/``write_text``: a file on the board            ssh
ManagesAgent       the agent runs on the board: start, stop, its state    ssh
InstallsAgent      all three, plus the board's paths: `agent install`     ssh
SharesThisMachine  the board is this host: hold its measurement lock      local
=================  ====================================================  ===========

``LeasesBoard`` is one for the client an opened transport returns: the agent's leases (the adb
phone's stand-in has none; the engine holds such a board with a lock file on this host).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from .base import BoardClient, BoardProfile, Transport
from .progress import Upload


@runtime_checkable
class RunsCommands(Protocol):
    def exec(self, command: str, timeout_s: float = 30) -> tuple[int, str]:
        """Run a shell command on the board: (exit status, stdout + stderr)."""


@runtime_checkable
class PutsFiles(Protocol):
    def put(self, path: Path, remote: str, progress: Upload | None = None) -> None:
        """Copy the host file ``path`` to ``remote`` on the board, atomically; ``progress(sent, total)``
        hears how far it is."""

    def write_text(self, remote: str, text: str) -> None:
        """Write ``text`` to the file ``remote`` on the board."""

    def file_sizes(self, remote_dir: str) -> dict[str, int]:
        """The files of the folder ``remote_dir`` on the board and their sizes in bytes."""


@runtime_checkable
class ManagesAgent(Protocol):
    """The agent is a process on the board that this transport starts and stops (`testbed agent`)."""

    def connect(self, retries: int = 3) -> None:
        """Reach the board without starting anything."""

    def open(self) -> BoardClient:
        """Start the agent when it is not running; a client for it."""

    def running_agent(self) -> dict | None:
        """The running agent's state (pid, port, version), or None."""

    def start_agent(self) -> dict:
        """Start the agent and wait for its state."""

    def stop_agent(self, timeout_s: float = 15.0) -> bool:
        """Stop the agent; True when one was running."""

    def read_json(self, name: str) -> dict | None:
        """A JSON file of the agent's home on the board (install.json, agent.json), or None."""

    def agent_client(self) -> BoardClient:
        """A client for the running agent (starts nothing)."""

    def close(self) -> None:
        """Let go of the board (the agent keeps running)."""


@runtime_checkable
class InstallsAgent(ManagesAgent, RunsCommands, PutsFiles, Protocol):
    """What `testbed agent install` needs: commands, files and the agent, and the board's paths."""

    profile: BoardProfile
    agent_home: str  # the agent's home on the board, ``~`` expanded
    remote_home: str  # the login user's home on the board

    def expand(self, path: str) -> str:
        """``~/x`` on the board -> its absolute path."""

    def agent_command(self) -> str:
        """The command line that serves the agent on the board."""


@runtime_checkable
class LeasesBoard(Protocol):
    """A board client whose agent grants leases (``AgentClient``): one holder at a time."""

    lease_id: str | None  # sent with every run while set

    def acquire_lease(self, holder: str, ttl_s: float) -> tuple[bool, dict]: ...

    def renew_lease(self, lease_id: str, ttl_s: float) -> bool: ...

    def release_lease(self, lease_id: str) -> None: ...


class Releasable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class SharesThisMachine(Protocol):
    """The board is this host: its measurements take this machine's lock (another testbed process
    measuring here waits) and are not overlapped with conversions, which load the same CPUs."""

    @staticmethod
    def machine_lock(notify: Callable[[str], None]) -> Releasable:
        """Hold this machine's measurement lock (waiting for it); ``close()`` the result to give it back."""


def has(transport: str, capability: Any) -> bool:
    """Whether the registered transport ``transport`` implements ``capability`` (a protocol of methods)."""
    from .registry import get

    return _implements(get(transport), capability)


def require(transport: Transport, capability: Any, what: str) -> Any:
    """``transport`` when it implements ``capability``; else a ConfigError naming the ones that do."""
    if isinstance(transport, capability):
        return transport
    from .registry import TRANSPORTS

    able = [f"{name} ({cls.about})" if cls.about else name
            for name, cls in TRANSPORTS.items() if _implements(cls, capability)]
    raise ConfigError(f"profile '{transport.profile.id}' uses transport '{transport.name}', which cannot do "
                      f"{what} ({capability.__name__}); transports that can: {', '.join(able) or 'none'}")


def _implements(cls: type, capability: Any) -> bool:
    """``issubclass`` that works for protocols with data members too (a class sets those in
    ``__init__``: it is judged by the protocol's methods alone)."""
    methods = {name for proto in capability.__mro__
               if getattr(proto, "_is_protocol", False) and proto is not Protocol
               for name, value in vars(proto).items() if callable(value) and not name.startswith("_")}
    return all(callable(getattr(cls, name, None)) for name in methods)
