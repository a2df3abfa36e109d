"""Hold a board for a plan run: the agent's lease (docs/agent-api.md), renewed in the background.

A board whose client has no agent lease (an adb phone: no agent runs there) is held with a lock file
under ``$TESTBED_HOME/locks`` instead, which only keeps plans on *this* host apart.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import AgentError, TestbedError, TransportError
from ..paths import home
from ..transports.capabilities import LeasesBoard


class BoardBusy(TestbedError):
    """Another host holds the board and the plan said skip, or the wait ran out."""


class BoardLease:
    def __init__(self, client: Any, device: str, holder: str, ttl_s: float, on_busy: str, wait_s: float,
                 stop: threading.Event, status: Callable[[str], None] = lambda msg: None,
                 poll_s: float = 2.0) -> None:
        self.client, self.device, self.holder = client, device, holder
        self.ttl_s, self.on_busy, self.wait_s, self.poll_s = ttl_s, on_busy, wait_s, poll_s
        self.stop, self.status = stop, status
        self.lease_id: str | None = None
        self.lost = threading.Event()  # a renewal found the lease gone: take it again before the next run
        self._keeper: threading.Thread | None = None
        self._quit = threading.Event()
        self._lock_file: Any = None

    @property
    def agent_side(self) -> bool:
        return isinstance(self.client, LeasesBoard)

    def acquire(self) -> None:
        """Take the board, waiting while another holder has it (bounded), or raise BoardBusy."""
        if not self.agent_side:
            self._acquire_file()
            return
        deadline = time.monotonic() + (self.wait_s if self.on_busy == "wait" else 0.0)
        while True:
            granted, body = self.client.acquire_lease(self.holder, self.ttl_s)
            if granted:
                self.lease_id = body["lease_id"]
                self.client.lease_id = self.lease_id
                self.lost.clear()
                break
            who = f"leased by {body.get('holder')!r} until {body.get('expires_at')}"
            if self.on_busy == "skip" or time.monotonic() >= deadline or self.stop.is_set():
                raise BoardBusy(f"{self.device} is busy: {who}"
                                + ("" if self.on_busy == "skip" else f" (waited {self.wait_s:.0f} s)"))
            self.status(f"waiting: {who}")
            self.stop.wait(min(self.poll_s, max(0.0, deadline - time.monotonic())))
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._renew_loop, name=f"lease-{self.device}", daemon=True)
            self._keeper.start()

    def rebind(self, client: Any) -> None:
        """After a reconnect: the same holder takes its (still live) lease back on the new client."""
        self.client = client
        if self.agent_side:
            self.acquire()

    def ensure(self) -> None:
        """Before a cell: take the lease again if a renewal found it gone (agent restarted, expired)."""
        if self.agent_side and self.lost.is_set():
            self.acquire()

    def _renew_loop(self) -> None:
        while not self._quit.wait(self.ttl_s / 3.0):
            lease_id = self.lease_id
            if lease_id is None:
                continue
            try:
                if not self.client.renew_lease(lease_id, self.ttl_s):
                    self.lost.set()
            except (AgentError, TransportError):
                pass  # the board is unreachable: the worker sees it on its next call and retries

    def release(self) -> None:
        self._quit.set()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        if self.lease_id is not None:
            lease_id, self.lease_id = self.lease_id, None
            try:
                self.client.release_lease(lease_id)
            except (AgentError, TransportError):
                pass  # it expires by itself after ttl_s
            self.client.lease_id = None

    def _acquire_file(self) -> None:
        locks = home() / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        fh = open(locks / f"{self.device}.lock", "a+")
        deadline = time.monotonic() + (self.wait_s if self.on_busy == "wait" else 0.0)
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline or self.stop.is_set():
                    fh.close()
                    raise BoardBusy(f"{self.device} is busy: another plan on this host holds "
                                    f"{locks / (self.device + '.lock')}") from None
                self.status("waiting: another plan on this host holds the board")
                self.stop.wait(self.poll_s)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.holder} pid {os.getpid()}\n")
        fh.flush()
        self._lock_file = fh
