"""One worker thread per board: health check, lease, then its cells one after another, in the order
the engine submits them (each as soon as its artifact is ready; ``executor.ThreadExecutor``).

Board faults (the retryable errors of ``testbed.errors``: the board or its agent did not answer, or
answered 5xx) are retried with exponential backoff on a fresh connection; a cell that still fails is
marked ``error`` with the reason and the board ``lost``: its remaining cells are marked too, and
``--resume`` redoes all of them. A failed conversion or run, or a request the agent refuses (HTTP 4xx,
say a ``runtime_settings`` key it does not know), is a finding: the cell is ``failed`` (finished) with
the reason, once, and the board goes on with its other cells. Wrong credentials (``PERMANENT``) are
never retried: they stop the board. Every cell is committed with all its repeats in one transaction
the moment it finishes.

Where it lives: this module holds the thread (the executor's queue, the board's life: health check,
lease, its cells, giving up); ``board_link`` the connection (health check within the timeout,
retries with backoff, ``FAULTS``); ``board_cell`` one cell with its repeats and retries
(``BoardLost``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any

from .. import __version__
from ..agent_client import prestart_workers
from ..errors import TestbedError, first_line
from ..profiles import Profile
from ..transports import get as get_transport
from ..transports.capabilities import SharesThisMachine
from .board_cell import BoardLost, CellRunner
from .board_link import FAULTS
from .context import RunContext
from .lease import BoardBusy, BoardLease
from .request import board_runtime


class BoardWorker(CellRunner, threading.Thread):
    def __init__(self, ctx: RunContext, profile: Profile, cells: list[Any]) -> None:
        super().__init__(name=f"board-{profile.id}", daemon=True)
        self.ctx, self.profile, self.cells = ctx, profile, cells
        self.device = profile.id
        self.transport: Any = None
        self.client: Any = None
        self.info: dict = {}
        self.lease: BoardLease | None = None
        self.done = 0
        self.outcome = "pending"  # ok | bad | busy | lost | interrupted
        self.reason: str | None = None  # why the board is bad / busy / lost (the whole error message)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # submitted cells; None: no more
        self._futures: dict[int, Future[str]] = {}  # cell id -> its final state, once stored
        self._machine: Any = None  # this machine's measurement lock (local boards)
        # Set when run() has returned. Wait on this, not on join()/is_alive(): a join interrupted by
        # Ctrl-C can leave the Thread object claiming it stopped while it still runs (CPython < 3.12).
        self.finished = threading.Event()

    # -- the executor's side ----------------------------------------------------------------------

    def submit(self, cell: Any) -> Future[str]:
        """Queue one of this board's cells; the future ends with its state once it is stored."""
        fut: Future[str] = Future()
        self._futures[cell.id] = fut
        if self.finished.is_set():  # the board gave up (bad, busy, lost) or was stopped
            self._settle(cell)
        else:
            self._queue.put(cell)
        return fut

    def no_more(self) -> None:
        """Every cell has been submitted: finish the queue, then stop."""
        self._queue.put(None)

    def _next(self) -> Any | None:
        """The next submitted cell, waiting for one; None when there are no more or the run stops."""
        while not self.ctx.stop.is_set():
            try:
                cell = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if cell is None or cell.state not in ("done", "failed", "skipped", "error"):
                return cell
            self._settle(cell)  # already finished or marked (a runtime the board lacks)
        return None

    def _settle(self, cell: Any) -> None:
        fut = self._futures.get(cell.id)
        if fut is not None and not fut.done():
            with contextlib.suppress(InvalidStateError):  # settled by the other thread meanwhile
                fut.set_result(cell.state)

    # -- the board's life -----------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # never let a bug in one board take the others down silently
            reason = f"internal error: {type(exc).__name__}: {first_line(exc)}"
            self._give_up("lost", reason)
        finally:
            try:
                if self.lease is not None:
                    self.lease.release()
                self._disconnect()
                if self._machine is not None:
                    self._machine.close()
                self._say(self.outcome)
            finally:
                self.finished.set()
                for cell in self.cells:
                    self._settle(cell)

    def abort(self) -> None:
        """From the main thread after Ctrl-C: give the lease back and close the connection now."""
        if self.lease is not None:
            self.lease.release()
        self._disconnect()

    def _pending(self) -> list[Any]:
        return [c for c in self.cells if c.state not in ("done", "failed")]

    def _give_up(self, status: str, reason: str) -> None:
        """Mark the board and every unfinished cell of it (resumable), with the reason."""
        self.outcome, self.reason = status, reason
        self.ctx.store.set_board(self.ctx.run_id, self.device, status, reason, self.info or None)
        cell_state = "skipped" if status in ("bad", "busy") else "error"
        pending = self._pending()
        self.ctx.store.mark_cells([c.id for c in pending], cell_state, f"board {status}: {reason}")
        for c in pending:
            c.state = cell_state
            self.ctx.ui.cell(self.device, c.key, cell_state, reason)

    def _run(self) -> None:
        ctx, ex = self.ctx, self.ctx.plan.execution
        transport = get_transport(self.profile.transport)
        if issubclass(transport, SharesThisMachine):  # the board is this host: wait for another process's
            self._machine = transport.machine_lock(self._say)  # measurement first, not in the timed health check
        try:
            self._connect("health check")
        except TestbedError as exc:  # the whole message: a deploy shows it as its error
            self._give_up("bad", f"failed its health check: {exc}")
            return
        self.lease = BoardLease(self.client, self.device, ctx.holder, ex.lease_ttl_s, ex.on_busy,
                                ex.lease_wait_s, ctx.stop, status=self._say)
        try:
            self.lease.acquire()
        except BoardBusy as exc:
            self._give_up("busy", str(exc))
            return
        except FAULTS as exc:
            self._give_up("bad", f"lease request failed: {first_line(exc)}")
            return
        ctx.store.set_board(ctx.run_id, self.device, "ok", None, self.info)
        self._skip_unavailable_runtimes()
        prestart_workers(self.client, self.info, [board_runtime(c.runtime, self.info) for c in self._pending()
                                                  if c.state not in ("skipped", "error")])
        deployments: dict[str, str] = {}
        while (cell := self._next()) is not None:
            if cell.model not in deployments:
                deployments[cell.model] = ctx.store.start_deployment(self.device, cell.model, __version__)
                ctx.store.update_deployment(deployments[cell.model], agent_info=self.info)
            try:
                self._cell(cell, deployments[cell.model])
            except BoardLost as exc:
                self._give_up("lost", str(exc))
                break
            finally:
                self._settle(cell)
            self.done += 1
        if ctx.stop.is_set() and self.outcome == "pending":
            self.outcome = "interrupted"
        status = {"lost": "failed", "interrupted": "interrupted"}.get(self.outcome, "done")
        for dep in deployments.values():
            ctx.store.update_deployment(dep, status=status)
        if self.outcome == "pending":
            self.outcome = "ok"

    def _skip_unavailable_runtimes(self) -> None:
        runtimes = self.info.get("runtimes") or {}
        for cell in self._pending():  # the runtime itself, or its fallback (executorch -> executorch-native)
            rt = runtimes.get(board_runtime(cell.runtime, self.info)) or {}
            if not rt.get("available"):
                why = rt.get("reason") or "not installed"
                reason = f"runtime {cell.runtime} is not available on {self.device}: {why}"
                self.ctx.store.mark_cells([cell.id], "skipped", reason)
                cell.state = "skipped"
                self.ctx.ui.cell(self.device, cell.key, "skipped", reason)
