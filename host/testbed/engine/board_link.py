"""The connection to one board's agent, for ``board.BoardWorker``: open it and check its health within
the plan's ``health_timeout_s``, retry board faults with exponential backoff, drop it.

Board faults (the retryable errors of ``testbed.errors``: the board or its agent did not answer, or
answered 5xx) are retried with exponential backoff on a fresh connection. Wrong credentials
(``PERMANENT``) are never retried.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import PERMANENT, RETRYABLE, AgentServerError, TransportError
from ..profiles import Profile
from .context import RunContext
from .lease import BoardLease

#: Retried with backoff (the board's fault). PERMANENT (authentication, host key) are caught first: never
#: retried. Any other TestbedError is the request's fault: a failed cell, or a bad board before it starts.
FAULTS = RETRYABLE


class BoardLink:
    """Connect, reconnect and disconnect one board (a mixin of ``board.BoardWorker``, which sets these)."""

    ctx: RunContext
    profile: Profile
    device: str
    cells: list[Any]
    done: int
    transport: Any
    client: Any
    info: dict
    lease: BoardLease | None

    def _say(self, status: str) -> None:
        self.ctx.ui.board(self.device, status, self.done, len(self.cells))

    def _disconnect(self) -> None:
        if self.transport is not None:
            try:
                self.transport.close()
            except Exception:  # a dead connection may fail to close; it is dropped either way
                pass
        self.transport = self.client = None

    def _connect_once(self) -> None:
        """Open the board and check its health: the agent answers /v1/health and /v1/info, all within
        the plan's ``health_timeout_s`` (plus the transport's own start-up time)."""
        box: dict[str, Any] = {}

        def attempt() -> None:
            try:
                transport, client = self.ctx.connect(self.profile)
                box["conn"] = (transport, client)
                health = client.health()
                if health.get("status") != "ok":
                    raise AgentServerError(f"agent on {self.device} reports status {health.get('status')!r}")
                box["info"] = client.info()
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            if box.pop("abandoned", False) and "conn" in box:
                box["conn"][0].close()

        limit = self.ctx.plan.execution.health_timeout_s + self.profile.agent.start_timeout_s
        thread = threading.Thread(target=attempt, name=f"health-{self.device}", daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            box["abandoned"] = True
            raise TransportError(f"{self.device} did not answer the health check within {limit:.0f} s")
        if "conn" in box:
            self.transport, self.client = box["conn"]
        if "error" in box:
            raise box["error"]
        self.info = box["info"]
        if self.lease is not None:
            self.lease.rebind(self.client)

    def _backoff(self, attempt: int) -> float:
        ex = self.ctx.plan.execution
        return min(ex.backoff_max_s, ex.backoff_s * (2 ** (attempt - 1)))

    def _connect(self, what: str) -> None:
        """Connect with retries and backoff; raise the last fault when every attempt failed."""
        ex = self.ctx.plan.execution
        for attempt in range(ex.retries + 1):
            if attempt:
                wait = self._backoff(attempt)
                self._say(f"{what}: retry {attempt}/{ex.retries} in {wait:.0f} s")
                self.ctx.sleep(wait)
            try:
                self._say(what)
                self._connect_once()
                return
            except PERMANENT:
                self._disconnect()
                raise
            except FAULTS as exc:
                self._disconnect()
                last = exc
        raise last
