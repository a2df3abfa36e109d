"""The board lease: at most one host measures on this board at a time.

A host that runs a plan takes the lease (``POST /v1/lease {holder, ttl_s}``), submits its runs with
``lease_id``, renews it (``PUT /v1/lease/<id>``) while it works and gives it back
(``DELETE /v1/lease/<id>``). While a lease is held, a run without that lease id is refused with
``409`` naming the holder and when the lease expires, so a second host waits or skips the board.
With no lease held, runs need none (a plain ``testbed deploy`` works as before).

A lease that is not renewed expires after ``ttl_s`` (a crashed host frees the board on its own).
Leases live in the agent's memory: a restarted agent holds none. Time is the agent's monotonic
clock; ``expires_at`` is given in UTC for people and ``expires_in_s`` for programs.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import AgentError, NotFoundError, RequestError, UpgradeRequired
from .schema import SchemaError, SchemaVersionError, check_host_schema

MAX_TTL_S = 24 * 3600.0
MAX_HOLDER = 200


class LeaseConflict(AgentError):
    """The board is leased by someone else (HTTP 409); ``payload`` names holder and expiry."""

    status = 409

    def __init__(self, message: str, payload: dict[str, Any]) -> None:
        super().__init__(message)
        self.payload = payload


@dataclass
class Lease:
    id: str
    holder: str
    ttl_s: float
    expires: float  # monotonic
    acquired_at: str

    def to_json(self, now: float) -> dict[str, Any]:
        left = max(0.0, self.expires - now)
        expires_at = datetime.now(timezone.utc) + timedelta(seconds=left)
        return {"lease_id": self.id, "holder": self.holder, "ttl_s": self.ttl_s,
                "acquired_at": self.acquired_at,
                "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "expires_in_s": round(left, 3)}


def parse_lease_request(body: Any, *, need_holder: bool = True) -> tuple[str, float]:
    """``(holder, ttl_s)`` from a lease request body, or RequestError."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object (Content-Type: application/json)")
    try:  # the wire schema's version, like every request (absent: a schema 1 host)
        check_host_schema(body)
    except SchemaVersionError as exc:
        raise UpgradeRequired(str(exc)) from exc
    except SchemaError as exc:
        raise RequestError(str(exc)) from exc
    unknown = sorted(set(body) - {"holder", "ttl_s", "schema"})
    if unknown:
        raise RequestError(f"unknown field(s) in the lease request: {', '.join(unknown)}; allowed: holder, ttl_s")
    holder = body.get("holder", "")
    if need_holder and (not isinstance(holder, str) or not holder.strip() or len(holder) > MAX_HOLDER):
        raise RequestError(f"holder must be a non-empty string of at most {MAX_HOLDER} characters "
                           "(who holds the lease, e.g. host:pid:plan-run)")
    ttl = body.get("ttl_s", 60.0)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_TTL_S:
        raise RequestError(f"ttl_s must be a number in (0, {MAX_TTL_S:.0f}], got {ttl!r:.40}")
    return (holder.strip() if isinstance(holder, str) else ""), float(ttl)


class LeaseBook:
    """The one lease of this agent (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lease: Lease | None = None
        self._lock = threading.Lock()

    def _live(self) -> Lease | None:
        if self._lease is not None and self._clock() >= self._lease.expires:
            self._lease = None
        return self._lease

    def _conflict(self, lease: Lease, what: str) -> LeaseConflict:
        payload = lease.to_json(self._clock())
        payload.pop("lease_id")
        return LeaseConflict(f"{what}: the board is leased by {lease.holder!r} for another "
                             f"{payload['expires_in_s']:.0f} s (until {payload['expires_at']})", payload)

    def acquire(self, holder: str, ttl_s: float) -> dict[str, Any]:
        """Take the lease; the same holder gets its live lease back, renewed. LeaseConflict if taken."""
        with self._lock:
            now = self._clock()
            lease = self._live()
            if lease is not None and lease.holder != holder:
                raise self._conflict(lease, "lease refused")
            if lease is None:
                lease = Lease(id=secrets.token_hex(8), holder=holder, ttl_s=ttl_s, expires=now + ttl_s,
                              acquired_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
                self._lease = lease
            lease.ttl_s, lease.expires = ttl_s, now + ttl_s
            return lease.to_json(now)

    def renew(self, lease_id: str, ttl_s: float | None = None) -> dict[str, Any]:
        """Extend a live lease by ``ttl_s`` (default: its own); NotFoundError when it expired or is unknown."""
        with self._lock:
            now = self._clock()
            lease = self._live()
            if lease is None or lease.id != lease_id:
                raise NotFoundError(f"no live lease {lease_id!r:.40} on this agent (expired or released); "
                                    "take a new one with POST /v1/lease")
            lease.ttl_s = ttl_s or lease.ttl_s
            lease.expires = now + lease.ttl_s
            return lease.to_json(now)

    def release(self, lease_id: str) -> bool:
        """Give the lease back; False when it was not the live lease (already expired: nothing to do)."""
        with self._lock:
            lease = self._live()
            if lease is None or lease.id != lease_id:
                return False
            self._lease = None
            return True

    def current(self) -> dict[str, Any] | None:
        """The live lease without its id (anyone may see who holds the board), or None."""
        with self._lock:
            lease = self._live()
            if lease is None:
                return None
            payload = lease.to_json(self._clock())
            payload.pop("lease_id")
            return payload

    def check_run(self, lease_id: str | None) -> None:
        """Allow a run submission: LeaseConflict when the board is leased and ``lease_id`` is not that
        lease, or when a lease id is given that is no longer live (the holder must not think it has it)."""
        with self._lock:
            lease = self._live()
            if lease is not None and lease.id != lease_id:
                raise self._conflict(lease, "run refused")
            if lease is None and lease_id is not None:
                raise LeaseConflict(f"run refused: lease {lease_id!r:.40} expired or was released; "
                                    "take a new one with POST /v1/lease", {"holder": None})
