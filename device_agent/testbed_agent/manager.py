"""Queues runs and executes them one at a time on a single background thread.

Each run gets a fresh worker subprocess (see ``supervisor``); the HTTP threads only submit and
read. Queued and running runs live in memory; finished runs are saved to disk and read back from
there (their output arrays can be megabytes), with small summaries cached for listing.

Around each worker the executor thread (not the worker) handles the board's temperature: an
optional cooldown before the run (``thermal.cooldown_below_c``), then the thermal watch (see
``thermal``), whose record becomes the result's ``thermal``, and the load watch (see ``loadwatch``:
the other processes' CPU use while the worker measures), whose record becomes its ``load``. A run that fails under a
``memory_limit_mb`` with an allocation failure in its error or stderr says it exceeded the limit.

Idle power baselines: a run with a power sensor and an idle window measures the board idle
before its timed runs. The manager keeps the last measured baseline per sensor configuration
(sensor, settings, rate, window) and passes it to the next runs while it is younger than the
request's ``power.idle_valid_s``: those runs take no idle window, and their power record says
``idle_source: "cached"`` with the run that measured it and its age.

Every result gets ``phases_s``: where the run's time went, the worker's own phases (``measure``)
between the agent's (``cooldown``, ``thermal_watch``, ``server_start`` - a fork server started
for this run -, ``worker_start`` - from asking for the process to the worker's first line -,
``worker_exit`` - from the worker's last line to its end seen -, and ``agent``, the rest), and
``wall_s``, their sum: the run's time on the agent from its start to its result.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from typing import Any

from . import schema
from .errors import AgentError
from .limits import memory_limit_error, out_of_memory
from .loadwatch import LoadWatch
from .loadwatch import not_available as load_not_available
from .power import PowerConfig
from .runs import Run, RunFiles, new_run_id, utc_now
from .store import ArtifactStore
from .supervisor import NOT_STARTED, WorkerOutcome, WorkerRunner
from .thermal import ThermalReader, ThermalWatch, cooldown, not_available

#: Request fields the worker gets as they are (the artifact and inputs go as paths): the wire
#: schema's ``WorkerRequest``.
WORKER_FIELDS = schema.WORKER_FIELDS

SUMMARY_CACHE = 500
#: The executor thread looks for idle fork servers to close this often when no run comes.
IDLE_CHECK_S = 30.0


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
        self._idle: dict[str, dict[str, Any]] = {}  # power config key -> measured idle baseline
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
        close = getattr(self.runner, "close", None)
        while True:
            try:
                run = self._queue.get_nowait()
            except queue.Empty:
                break
            if run is not None:
                self._finish(run, None, NOT_STARTED)
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if close is not None:  # the fork servers, once no worker can start any more
            close()

    def _loop(self) -> None:
        while True:
            try:
                run = self._queue.get(timeout=IDLE_CHECK_S)
            except queue.Empty:
                close_idle = getattr(self.runner, "close_idle", None)
                if close_idle is not None:
                    close_idle()
                continue
            if run is None:
                break
            try:
                self._execute(run)
            except Exception as exc:  # never let the executor thread die
                try:
                    self._finish(run, None, f"agent error while running: {type(exc).__name__}: {exc}")
                except Exception:  # e.g. the disk is full: keep the failed run in memory only
                    with self._lock:
                        run.state, run.error = "failed", f"agent error: {type(exc).__name__}: {exc}"

    def _execute(self, run: Run) -> None:
        started = time.monotonic_ns()
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
        worker_request = schema.WorkerRequest.from_run(
            req, str(artifact), str(inputs), self._idle_baseline(req.get("power"))).to_wire()
        timings: dict[str, float] = {}
        outcome, thermal, load = self._run_watched(worker_request, req, timings)
        result = outcome.result
        error = outcome.error
        if result is not None and "error" in result:
            error, result = str(result["error"]), None
        limit = req.get("memory_limit_mb")
        if (error and limit and "memory limit" not in error
                and (out_of_memory(error) or out_of_memory(outcome.stderr_tail))):
            error = memory_limit_error(limit, error)
        if result is not None:
            try:  # every runtime answers the same typed shape (schema.RunResult)
                typed = schema.RunResult.from_wire(result)
            except schema.SchemaError as exc:
                error, result = f"the {req['runtime']} worker's result: {exc}", None
        if result is not None:
            typed.thermal, typed.load = thermal, load
            self._remember_idle(run.id, req.get("power"), typed.power)
            typed.worker = {**outcome.worker, **(typed.worker or {})}
            typed.phases_s = run_phases(started, time.monotonic_ns(), timings, outcome.worker,
                                        result)
            typed.wall_s = sum(typed.phases_s.values())
            typed.run_id = run.id
            result = typed.to_wire(req.get("host_schema", schema.SCHEMA_VERSION))
        self._finish(run, result, error, outcome.stderr_tail if error else None)

    def _idle_baseline(self, power: dict[str, Any] | None) -> dict[str, Any] | None:
        """The cached idle baseline for this power block, while it holds; else None."""
        if not power or not power.get("idle_window_s") or not power.get("idle_valid_s"):
            return None
        cached = self._idle.get(PowerConfig.from_dict(power).baseline_key())
        if cached is None:
            return None
        age_s = (time.monotonic_ns() - cached["measured_monotonic_ns"]) / 1e9
        if age_s > float(power["idle_valid_s"]):
            return None
        return {"idle_w": cached["idle_w"], "idle_window_ns": cached["idle_window_ns"],
                "run_id": cached["run_id"], "age_s": round(age_s, 3)}

    def _remember_idle(self, run_id: str, power: dict[str, Any] | None,
                       record: dict[str, Any] | None) -> None:
        """Keep an idle baseline this run measured (not one it reused) for the next runs."""
        if not power or not record or record.get("idle_source") != "measured":
            return
        if record.get("idle_w") is None or not record.get("idle_window_ns"):
            return
        now = time.monotonic_ns()
        end = int(record["idle_window_ns"][1])  # perf_counter_ns: the monotonic clock on Linux
        self._idle[PowerConfig.from_dict(power).baseline_key()] = {
            "idle_w": record["idle_w"], "idle_window_ns": list(record["idle_window_ns"]),
            "run_id": run_id, "measured_monotonic_ns": end if 0 < end <= now else now}

    def reader(self) -> ThermalReader:
        """The board's thermal sources, found on first use."""
        if self._thermal is None:
            self._thermal = ThermalReader()
        return self._thermal

    def _run_watched(self, worker_request: dict[str, Any], req: dict[str, Any],
                     timings: dict[str, float]
                     ) -> tuple[WorkerOutcome, dict[str, Any], dict[str, Any]]:
        """Cooldown (when asked), then the worker under the thermal and load watches; never fails
        on either. ``timings`` gets the seconds of ``cooldown`` and ``thermal_watch`` (both
        watches' start and stop)."""
        cooling = None
        watch = None
        mark = time.monotonic()
        timings["cooldown"] = 0.0
        try:
            reader = self.reader()
            below = (req.get("thermal") or {}).get("cooldown_below_c")
            if below is not None:
                cooling = cooldown(reader, below, req["thermal"]["cooldown_timeout_s"],
                                   sleep=self._stopping.wait)
            timings["cooldown"] = time.monotonic() - mark
            mark = time.monotonic()
            watch = ThermalWatch(reader)
            watch.start()
        except Exception as exc:  # a thermal source misbehaving must not cost the run
            watch = None
            failure = f"thermal watch failed: {type(exc).__name__}: {exc}"
        loads = self._start_load_watch()
        timings["thermal_watch"] = time.monotonic() - mark
        outcome = self.runner.run(worker_request, req["timeout_s"])
        mark = time.monotonic()
        window = ((outcome.result or {}).get("measurement") or {}).get("timed_window_monotonic_ns")
        try:
            load = self._stop_load_watch(loads, window)
            if watch is None:
                return outcome, not_available([failure], cooling), load
            try:
                return outcome, watch.stop(window, cooling), load
            except Exception as exc:
                return outcome, not_available(
                    [f"thermal watch failed: {type(exc).__name__}: {exc}"], cooling), load
        finally:
            timings["thermal_watch"] += time.monotonic() - mark

    def _start_load_watch(self) -> LoadWatch | str:
        """The load watch on the coming worker, or why there is none."""
        pid = getattr(self.runner, "current_pid", None)
        if pid is None:
            return "this agent's worker runner does not say its worker's pid"
        try:
            loads = LoadWatch(pid)
            loads.start()
        except Exception as exc:  # reading /proc must never cost the run
            return f"load watch failed: {type(exc).__name__}: {exc}"
        return loads

    @staticmethod
    def _stop_load_watch(loads: LoadWatch | str, window: list[int] | None) -> dict[str, Any]:
        if isinstance(loads, str):
            return load_not_available(loads)
        try:
            return loads.stop(window)
        except Exception as exc:
            return load_not_available(f"load watch failed: {type(exc).__name__}: {exc}")

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


def run_phases(started_ns: int, ended_ns: int, timings: dict[str, float], worker: dict[str, Any],
               result: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of one run, in order; they sum to the run's time on the agent (the
    unaccounted rest is ``agent``: artifact checks, bookkeeping)."""
    phases: dict[str, float] = {"cooldown": timings.get("cooldown", 0.0),
                                "thermal_watch": timings.get("thermal_watch", 0.0),
                                "server_start": float(worker.get("server_start_s") or 0.0)}
    inner = result.get("worker") or {}
    spawn, exited = worker.get("spawn_monotonic_ns"), worker.get("exit_monotonic_ns")
    entered, finished = inner.get("entered_monotonic_ns"), inner.get("finished_monotonic_ns")
    if spawn and entered:
        phases["worker_start"] = max(0.0, (int(entered) - int(spawn)) / 1e9)
    for name, seconds in (result.get("phases_s") or {}).items():
        phases[name] = phases.get(name, 0.0) + float(seconds)
    if finished and exited:
        phases["worker_exit"] = max(0.0, (int(exited) - int(finished)) / 1e9)
    total = (ended_ns - started_ns) / 1e9
    phases["agent"] = max(0.0, total - sum(phases.values()))
    return {k: round(v, 6) for k, v in phases.items()}
