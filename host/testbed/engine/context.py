"""What the board workers of one run share (``RunContext``), and how a board is opened (``Connector``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..profiles import Profile
from ..store import Store
from ..transports import get as get_transport
from .plan import Plan
from .ui import RunUI


def connect_profile(profile: Profile) -> tuple[Any, Any]:
    """The default connector: the profile's transport, opened; ``(transport, client)``."""
    transport = get_transport(profile.transport)(profile)
    try:
        return transport, transport.open()
    except BaseException:
        transport.close()
        raise


Connector = Callable[[Profile], tuple[Any, Any]]


@dataclass
class RunContext:
    """What every board worker of one plan run shares (read-only once the workers start)."""

    store: Store
    run_id: str
    plan: Plan
    holder: str  # who holds the leases: host:pid:run
    models: dict[str, Any]  # model id -> zoo model
    artifacts: dict[tuple[str, str], Any]  # (model, converter) -> Artifact, filled as conversions finish
    refs: dict[str, dict]  # model id -> reference_inputs cache (filled before a cell is submitted)
    ui: RunUI
    connect: Connector = connect_profile
    stop: threading.Event = field(default_factory=threading.Event)
    sleep: Callable[[float], None] = time.sleep
