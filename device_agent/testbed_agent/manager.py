"""Queues runs and executes them one at a time on a single background thread.

Each run gets a fresh worker subprocess (see ``supervisor``); the HTTP threads only submit and
read. Queued and running runs live in memory; finished runs are saved to disk and read back from
there (their output arrays can be megabytes), with small summaries cached for listing.

Around each worker the executor thread (not the worker) handles the board's temperature: an
optional cooldown before the run (``thermal.cooldown_below_c``), then the thermal watch (see
``thermal``), whose record becomes the result's ``thermal``. A run that fails under a
``memory_limit_mb`` with an allocation failure in its error or stderr says it exceeded the limit.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from typing import Any

from .errors import AgentError
from .limits import memory_limit_error, out_of_memory
from .runs import Run, RunFiles, new_run_id, utc_now
from .store import ArtifactStore
from .supervisor import WorkerOutcome, WorkerRunner
from .thermal import ThermalReader, ThermalWatch, cooldown, not_available

#: Request fields the worker gets as they are (the artifact and inputs go as paths).
WORKER_FIELDS = ("runtime", "threads", "warmup", "warmup_min_s", "iterations", "min_time_s",
                 "max_time_s", "ci_target_pct", "return_outputs", "power", "runtime_settings",
                 "cpu_affinity", "memory_limit_mb", "debug_sleep_s", "debug_noise", "debug_crash",
                 "profile_ops")

SUMMARY_CACHE = 500


class RunManager:
    """The run queue of one agent."""

    def __init__(self, store: ArtifactStore, files: RunFiles, runner: WorkerRunner,
                 thermal: ThermalReader | None = None) -> None:
        self.store = store
        self.files = files
        self.runner = runner
        self._thermal = thermal
        self._stopping = threading.Event()
        self._runs: dict[str, Run] = {}  # queued and running
        self._summaries: OrderedDict[str, dict[str, Any]] = OrderedDict()  # finished, no outputs
        self._lock = threading.Lock()
        self._queue: queue.Queue[Run | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="run-executor", daemon=True)

    def start(self) -> None:
        """Start the executor thread."""
        self._thread.start()

    def submit(self, request: dict[str, Any]) -> Run:
        """Queue a validated request (its artifacts were checked by the caller)."""
        run = Run(id=new_run_id(), request=request)
        with self._lock:
            self._runs[run.id] = run
        self._queue.put(run)
        return run

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run's JSON (from memory, else from disk), or None."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                return run.to_json()
        saved = self.files.load(run_id)
        return saved.to_json() if saved else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent runs, newest first, without their output arrays."""
        with self._lock:
            found = {run.id: run.to_json(outputs=False) for run in self._runs.values()}
        for run_id in self.files.recent_ids(limit):
            if run_id in found:
                continue
            with self._lock:
                summary = self._summaries.get(run_id)
            if summary is None and (saved := self.files.load(run_id)):
                summary = self._remember(saved)
            if summary is not None:
                found[run_id] = summary
        return [found[k] for k in sorted(found, reverse=True)[:limit]]

    def _remember(self, run: Run) -> dict[str, Any]:
        """Cache the summary of a finished run (bounded)."""
        summary = run.to_json(outputs=False)
        with self._lock:
            self._summaries[run.id] = summary
            while len(self._summaries) > SUMMARY_CACHE:
                self._summaries.popitem(last=False)
        return summary

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Kill the running worker, fail the queued runs, and wait for the executor to save them."""
        self._stopping.set()  # ends a cooldown wait
        self.runner.kill()
        while True:
            try:
                run = self._queue.get_nowait()
            except queue.Empty:
                break
            if run is not None:
                self._finish(run, None, "the agent shut down before the run started")
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while (run := self._queue.get()) is not None:
            try:
                self._execute(run)
            except Exception as exc:  # never let the executor thread die
                try:
                    self._finish(run, None, f"agent error while running: {type(exc).__name__}: {exc}")
                except Exception:  # e.g. the disk is full: keep the failed run in memory only
                    with self._lock:
                        run.state, run.error = "failed", f"agent error: {type(exc).__name__}: {exc}"

    def _execute(self, run: Run) -> None:
        req = run.request
        with self._lock:
            run.state, run.started_at = "running", utc_now()
        try:
            artifact = self.store.path(req["artifact_sha256"])
            self.store.check(req["artifact_sha256"])
            inputs = self.store.path(req["inputs_sha256"])
            self.store.check(req["inputs_sha256"])
        except AgentError as exc:
            self._finish(run, None, str(exc))
            return
        worker_request = {"artifact_path": str(artifact), "inputs_path": str(inputs),
                          **{k: req[k] for k in WORKER_FIELDS if k in req}}
        outcome, thermal = self._run_watched(worker_request, req)
        result = outcome.result
        error = outcome.error
        if result is not None and "error" in result:
            error, result = str(result["error"]), None
        limit = req.get("memory_limit_mb")
        if (error and limit and "memory limit" not in error
                and (out_of_memory(error) or out_of_memory(outcome.stderr_tail))):
            error = memory_limit_error(limit, error)
        if result is not None:
            result["thermal"] = thermal
        self._finish(run, result, error, outcome.stderr_tail if error else None)

    def reader(self) -> ThermalReader:
        """The board's thermal sources, found on first use."""
        if self._thermal is None:
            self._thermal = ThermalReader()
        return self._thermal

    def _run_watched(self, worker_request: dict[str, Any], req: dict[str, Any]
                     ) -> tuple[WorkerOutcome, dict[str, Any]]:
        """Cooldown (when asked), then the worker under the thermal watch; never fails on thermal."""
        cooling = None
        watch = None
        try:
            reader = self.reader()
            below = (req.get("thermal") or {}).get("cooldown_below_c")
            if below is not None:
                cooling = cooldown(reader, below, req["thermal"]["cooldown_timeout_s"],
                                   sleep=self._stopping.wait)
            watch = ThermalWatch(reader)
            watch.start()
        except Exception as exc:  # a thermal source misbehaving must not cost the run
            watch = None
            failure = f"thermal watch failed: {type(exc).__name__}: {exc}"
        outcome = self.runner.run(worker_request, req["timeout_s"])
        if watch is None:
            return outcome, not_available([failure], cooling)
        window = ((outcome.result or {}).get("measurement") or {}).get("timed_window_monotonic_ns")
        try:
            return outcome, watch.stop(window, cooling)
        except Exception as exc:
            return outcome, not_available([f"thermal watch failed: {type(exc).__name__}: {exc}"],
                                          cooling)

    def _finish(self, run: Run, result: dict[str, Any] | None, error: str | None,
                stderr_tail: str | None = None) -> None:
        with self._lock:
            run.result, run.error, run.stderr_tail = result, error, stderr_tail
            run.state = "failed" if error else "done"
            run.finished_at = utc_now()
        self.files.save(run)
        self._remember(run)
        with self._lock:
            self._runs.pop(run.id, None)
