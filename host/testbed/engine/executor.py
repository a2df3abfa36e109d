"""Where cells run. The engine hands each cell to an executor the moment its artifact is ready and
waits for the futures; it never touches boards itself.

    Executor           the contract: submit(cell) -> Future[state], close(), abort(), boards()
    ThreadExecutor     in this process: one worker thread per board (``board.BoardWorker``), which
                       connects, checks health, takes the lease, retries board faults and stores
                       each finished cell in one transaction

A distributed executor (Celery workers near the boards) implements the same four methods; the
engine (``run.execute``) does not change.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from ..profiles import Profile
from .board import BoardWorker
from .context import RunContext


class Executor(Protocol):
    def submit(self, cell: Any) -> Future[str]:
        """Run one cell (a ``PlanCell`` row: board x model x variant x threads, its repeats) on its
        board; the future's result is the cell's final state (done / failed / error / skipped),
        set once the cell is stored."""
        ...

    def close(self) -> None:
        """Every cell has been submitted: finish them, then let the boards go (leases, connections)."""
        ...

    def abort(self) -> None:
        """Stop now (Ctrl-C): unfinished cells stay as they are (resumable); leases are given back."""
        ...

    def boards(self) -> dict[str, tuple[str, str | None]]:
        """Each board's outcome once closed: device -> (ok | bad | busy | lost | interrupted, reason)."""
        ...


class ThreadExecutor:
    """One ``BoardWorker`` thread per board with cells, started at once: boards connect and take their
    leases while the first artifacts are still being converted."""

    def __init__(self, ctx: RunContext, boards: list[Profile], cells: list[Any]) -> None:
        workers = [BoardWorker(ctx, b, [c for c in cells if c.device == b.id]) for b in boards]
        self.workers = {w.device: w for w in workers if w.cells}
        for w in self.workers.values():
            w.start()

    def submit(self, cell: Any) -> Future[str]:
        worker = self.workers.get(cell.device)
        if worker is None:  # a cell of a board that is not in this run (its profile failed to load)
            fut: Future[str] = Future()
            fut.set_result(cell.state)
            return fut
        return worker.submit(cell)

    def close(self) -> None:
        for w in self.workers.values():
            w.no_more()
        for w in self.workers.values():
            while not w.finished.wait(0.2):  # short waits: Ctrl-C reaches the main thread
                pass

    def abort(self) -> None:
        for w in self.workers.values():
            if w.ident is not None and not w.finished.wait(3.0):
                w.abort()  # still waiting on a board run: drop its lease and connection (a local agent is
                w.finished.wait(10.0)  # stopped) so nothing is left running; it exits on its next call

    def boards(self) -> dict[str, tuple[str, str | None]]:
        return {d: (w.outcome, w.reason) for d, w in self.workers.items()}
