"""The Celery executor: each cell goes to the queue of its board (``board.<device id>``), where the
`testbed worker` of the lab host that owns the board runs it (``celery_app.run_cell``) and stores it in
the shared store. The same four methods as ``executor.ThreadExecutor``; the engine does not change.

* **Before anything is sent**: the broker must answer (else one ConfigError naming it); every cell's
  time limit (from the plan and the board's profile: ``cell_time_limit``, plus the lab's ``prepare_s``
  for the worker's host work: model, reference outputs, a conversion) must end before the broker's
  visibility timeout, or a cell still running would be handed to a second worker; a board that no
  worker serves is marked ``bad`` and its cells ``skipped`` (resumable), with the command that fixes it.
* **Futures** resolve from the store: the cell's row reaches a final state (done, failed, error,
  skipped). A task that failed without storing its cell (its time limit, a bug) marks the cell
  ``error`` with the task's exception. A task whose worker died stays queued: Redis hands it out
  again (``acks_late``), so its future waits - unless no worker serves the board's queue for
  ``worker_gone_s``: then its cells are marked ``error`` with the command that fixes it (resumable).
* **Conversions** (``conversions()``, which the engine asks for): once for the whole lab, on the
  conversion queue when a `testbed worker --convert N` serves it, else on this host; every artifact
  lands in the store, and a board's worker fetches it from there by its cache key (``lab_artifacts``).
* **abort** (Ctrl-C) revokes every unfinished task; the cells stay as they are, for ``--resume``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, InvalidStateError
from typing import Any

from ..errors import ConfigError, first_line
from ..profiles import Profile
from .artifacts import Pair, Progress
from .celery_app import CONVERT_QUEUE, TASK, build_app, queue_of, settings
from .celery_conversions import LabConversions
from .context import RunContext
from .lab_artifacts import SharedConversions
from .plan import Plan, deploy_options
from .request import effective_measure

FINAL = ("done", "failed", "error", "skipped")  # a cell's row in one of these: its task is over
SLACK_S = 15.0  # per cell, over its timeouts: artifact lookup, transfer, lease, commit
HARD_AFTER_S = 10.0  # the hard time limit kills the worker's process this long after the soft one
POLL_S = 0.5
TASK_POLL_S = 2.0  # how often failed tasks (nothing stored) are looked for
WORKER_POLL_S = 15.0  # how often the boards' queues are checked for a worker (``LabSettings.worker_gone_s``)


def cell_time_limit(plan: Plan, profile: Profile, cell: Any) -> float:
    """The longest one cell may take on ``profile`` (its soft time limit): every attempt's health
    check, agent start and runs (each within its timeout, cooldown included), the backoffs, a busy
    board's wait."""
    ex = plan.execution
    measure = effective_measure(profile, deploy_options(plan, cell.threads, ex.cell_timeout_s))
    cooldown = profile.thermal.cooldown_timeout_s if profile.thermal.cooldown_below_c else 0.0
    attempt = ex.health_timeout_s + profile.agent.start_timeout_s + cell.repeats * (measure.timeout_s + cooldown)
    backoffs = sum(min(ex.backoff_max_s, ex.backoff_s * 2 ** (a - 1)) for a in range(1, ex.retries + 1))
    busy = ex.lease_wait_s if ex.on_busy == "wait" else 0.0
    return (ex.retries + 1) * attempt + 2 * backoffs + busy + SLACK_S


class CeleryExecutor:
    """Cells to the boards' queues; futures from the shared store."""

    def __init__(self, ctx: RunContext, boards: list[Profile], cells: list[Any]) -> None:
        self.ctx = ctx
        self.lab = settings(db=ctx.store.url)
        self.app = build_app(self.lab)
        self.profiles = {b.id: b for b in boards}
        self.devices = sorted({c.device for c in cells if c.device in self.profiles})
        self.limits = {c.id: self._limit(c) for c in cells if c.device in self.profiles}
        self._check_broker()
        self._convert_served = False
        self._unserved = self._mark_unserved(cells)
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Any, Future[str], Any]] = {}  # cell id -> (cell, future, AsyncResult)
        self._closed = threading.Event()
        self._last_served: dict[str, float] = {}  # device -> when a worker last served its queue
        self._poller = threading.Thread(target=self._poll, name="celery-poll", daemon=True)
        self._poller.start()

    def _limit(self, cell: Any) -> float:
        limit = cell_time_limit(self.ctx.plan, self.profiles[cell.device], cell) + self.lab.prepare_s
        if limit + HARD_AFTER_S >= self.lab.visibility_timeout_s:
            raise ConfigError(f"cell {cell.key} may take {limit + HARD_AFTER_S:.0f} s (its time limit, from the "
                              f"plan's execution timeouts and the board's profile), not below the broker's "
                              f"visibility timeout of {self.lab.visibility_timeout_s:.0f} s: a second worker would "
                              "take it while it runs; raise visibility_timeout_s (TESTBED_VISIBILITY_TIMEOUT_S or "
                              "the lab file) or lower the plan's timeouts")
        return limit

    def _check_broker(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:  # kombu's OperationalError and the socket errors under it
            raise ConfigError(f"cannot reach the Celery broker {self.lab.broker}: {first_line(exc)}") from exc

    def _mark_unserved(self, cells: list[Any]) -> set[str]:
        """Boards no worker consumes the queue of: marked bad, their cells skipped (resumable)."""
        replies = self.app.control.inspect(timeout=3.0).active_queues() or {}
        served = {q.get("name") for queues in replies.values() for q in queues or []}
        self._convert_served = CONVERT_QUEUE in served
        unserved = {d for d in self.devices if queue_of(d) not in served}
        for device in sorted(unserved):
            reason = (f"no testbed worker serves the queue {queue_of(device)} (start `testbed worker --boards "
                      f"{device}` on the lab host the board is attached to)")
            self.ctx.store.set_board(self.ctx.run_id, device, "bad", reason)
            mine = [c for c in cells if c.device == device and c.state not in FINAL]
            self.ctx.store.mark_cells([c.id for c in mine], "skipped", f"board bad: {reason}")
            for c in mine:
                c.state = "skipped"
                self.ctx.ui.cell(device, c.key, "skipped", reason)
        return unserved

    def conversions(self, models: dict[str, Any], pairs: list[Pair], progress: Progress) -> Any:
        """The run's conversions: on the lab's conversion queue when a worker serves it, else here;
        either way each artifact ends in the store, where the boards' workers fetch it."""
        if self._convert_served:
            return LabConversions(self.app, self.ctx.store, models, pairs, progress)
        progress(f"no `testbed worker --convert N` serves {CONVERT_QUEUE}: converting on this host")
        return SharedConversions(self.ctx.store, models, pairs, progress)

    # -- the Executor contract ----------------------------------------------------------------------

    def submit(self, cell: Any) -> Future[str]:
        fut: Future[str] = Future()
        if cell.device not in self.profiles or cell.device in self._unserved or cell.state in FINAL:
            fut.set_result(cell.state)
            return fut
        limit = self.limits[cell.id]
        result = self.app.send_task(TASK, args=[self.ctx.run_id, cell.id], queue=queue_of(cell.device),
                                    soft_time_limit=limit, time_limit=limit + HARD_AFTER_S)
        with self._lock:
            self._waiting[cell.id] = (cell, fut, result)
        self.ctx.ui.board(cell.device, f"queued {cell.key}", 0, 0)
        return fut

    def close(self) -> None:
        while not self.ctx.stop.is_set():
            with self._lock:
                if not self._waiting:
                    break
            time.sleep(0.2)  # short waits: Ctrl-C reaches the main thread
        self._closed.set()
        self._poller.join(5)

    def abort(self) -> None:
        self._closed.set()
        with self._lock:
            ids = [res.id for _, _, res in self._waiting.values()]
        if ids:
            try:
                self.app.control.revoke(ids, terminate=True, signal="SIGTERM")
            except Exception as exc:  # noqa: BLE001 - a broker gone too: the cells stay resumable anyway
                self.ctx.ui.message(f"could not revoke the queued cells: {first_line(exc)}")
        self._poller.join(5)

    def boards(self) -> dict[str, tuple[str, str | None]]:
        found = {b.device: (b.status, b.reason) for b in self.ctx.store.plan_boards(self.ctx.run_id)}
        return {d: found.get(d, ("pending", None)) for d in self.devices}

    # -- futures from the store -----------------------------------------------------------------

    def _poll(self) -> None:
        last_tasks = last_workers = time.monotonic()
        while not self._closed.wait(POLL_S):
            try:
                self._settle_stored()
                if time.monotonic() - last_tasks >= TASK_POLL_S:
                    last_tasks = time.monotonic()
                    self._settle_failed_tasks()
                if time.monotonic() - last_workers >= WORKER_POLL_S:
                    last_workers = time.monotonic()
                    self._settle_abandoned_boards()
            except Exception as exc:  # noqa: BLE001 - a store or broker hiccup: the next poll retries
                self.ctx.ui.message(f"polling the cells' state failed (retrying): {first_line(exc)}")

    def _settle_abandoned_boards(self) -> None:
        """A board whose queue no worker has consumed for ``worker_gone_s`` (its worker died and nobody
        started it again): its waiting cells are marked error, resumable, instead of waiting for ever."""
        with self._lock:
            devices = {cell.device for cell, _, _ in self._waiting.values()}
        if not devices:
            return
        replies = self.app.control.inspect(timeout=3.0).active_queues() or {}
        served = {q.get("name") for queues in replies.values() for q in queues or []}
        now = time.monotonic()
        for device in sorted(devices):
            if queue_of(device) in served:
                self._last_served[device] = now
                continue
            since = self._last_served.setdefault(device, now)
            if now - since < self.lab.worker_gone_s:
                continue
            reason = (f"no testbed worker has served {queue_of(device)} for {now - since:.0f} s (its worker "
                      f"died?): start `testbed worker --boards {device}` on its lab host, then resume the run")
            with self._lock:
                mine = [(cell, res) for cell, _, res in self._waiting.values() if cell.device == device]
            self.ctx.store.set_board(self.ctx.run_id, device, "lost", reason)
            self.ctx.store.mark_cells([cell.id for cell, _ in mine], "error", reason)
            try:
                self.app.control.revoke([res.id for _, res in mine])
            except Exception:  # noqa: BLE001 - the cells are marked; a late delivery finds them finished
                pass
            for cell, _ in mine:
                self._resolve(cell, "error", reason)

    def _settle_stored(self) -> None:
        with self._lock:
            if not self._waiting:
                return
        rows = {c.id: c for c in self.ctx.store.plan_cells(self.ctx.run_id)}
        with self._lock:
            items = list(self._waiting.items())
        for cell_id, (cell, _, _) in items:
            row = rows.get(cell_id)
            if row is not None and row.state in FINAL:
                self._resolve(cell, row.state, row.error)

    def _settle_failed_tasks(self) -> None:
        with self._lock:
            items = list(self._waiting.values())
        for cell, _, result in items:
            if result.state in ("FAILURE", "REVOKED"):
                reason = f"the worker's task failed: {type(result.result).__name__}: {first_line(result.result)}"
                self.ctx.store.mark_cells([cell.id], "error", reason)
                self._resolve(cell, "error", reason)

    def _resolve(self, cell: Any, state: str, error: str | None) -> None:
        with self._lock:
            entry = self._waiting.pop(cell.id, None)
        if entry is None:
            return
        cell.state = state
        self.ctx.ui.cell(cell.device, cell.key, state, error or "")
        try:
            entry[1].set_result(state)
        except InvalidStateError:
            pass
