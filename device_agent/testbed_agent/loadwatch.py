"""The other load on the board while a run measures: how much CPU everything else used.

The agent process (never the measuring worker) samples ``/proc`` about twice a second around each
run, beside the thermal watch (``manager``); ``stop()`` returns the result's ``load`` record.

What one sample reads (a handful of small files, ~0.1 ms of CPU):

* ``/proc/stat``: busy jiffies per CPU (user, nice, system, irq, softirq; ``steal`` apart: time the
  hypervisor gave to other machines);
* the worker's ``/proc/<pid>/stat`` (utime, stime and its reaped children's cutime, cstime) and that
  of its live descendants (a native runner's child binary): the measurement's own CPU; descendants
  are found through ``/proc/<pid>/task/<tid>/children`` where the kernel has it, else among the
  process ids above the worker's (new processes get higher ids; the few are read, not all of
  ``/proc``);
* the worker's tasks' ``schedstat`` (time on a CPU and time *waiting* for one): direct evidence that
  something else held the CPU while the measurement was ready to run;
* the agent's own ``/proc/self/stat`` (all its threads, the samplers included).

``other_cpu_pct`` = busy jiffies on the CPUs the measurement could use (the worker's affinity when
pinned, else all) minus the worker's and the agent's, in % of one CPU: mean over the timed window
(time-weighted, from the last sample before it to the first after it) and the largest interval.
The agent's own time is subtracted whole though some of it may run on other CPUs: that can only
understate the others, by the agent's own small share. ``top_other`` (the busiest other processes
by name) comes from one scan of every ``/proc/<pid>/stat`` at the start and one at the end of the
run only, so it covers the whole run, load included. A machine without ``/proc/stat`` gets
``{"available": False, "reason": ...}``; no figure is made up.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_RATE_HZ = 2.0
TOP_N = 5
#: New process ids read per sample at most when looking for the worker's children without the
#: kernel's ``children`` files (a fork storm elsewhere must not make the sampler expensive).
MAX_NEW_PIDS = 64
METHOD = ("/proc/stat busy jiffies on the CPUs the measurement could use, minus the worker's process "
          "tree and the agent's own (/proc/<pid>/stat), sampled at {rate} Hz by the agent; run-queue "
          "wait from the worker's tasks' schedstat; top_other from /proc/<pid>/stat deltas at the "
          "run's start and end")


def not_available(reason: str) -> dict[str, Any]:
    """The load record of a machine (or run) where the other load could not be sampled."""
    return {"available": False, "reason": reason}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cpu_jiffies(proc: Path) -> dict[int, tuple[int, int]]:
    """``{cpu: (busy, steal)}`` jiffies from ``/proc/stat`` (the per-CPU lines)."""
    out: dict[int, tuple[int, int]] = {}
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *values = line.split()
            v = [int(x) for x in values] + [0] * 8
            out[int(name[3:])] = (v[0] + v[1] + v[2] + v[5] + v[6], v[7])
    return out


def proc_stat(proc: Path, pid: int | str) -> tuple[str, int, int, int, int] | None:
    """``(name, ppid, own, reaped, starttime)`` of one process (jiffies), or None when gone."""
    text = _read(proc / str(pid) / "stat")
    if not text:
        return None
    name_end = text.rfind(")")
    fields = text[name_end + 2:].split()  # fields from the state (3rd) on
    name = text[text.find("(") + 1:name_end]
    return (name, int(fields[1]), int(fields[11]) + int(fields[12]),
            int(fields[13]) + int(fields[14]), int(fields[19]))


def sched_ns(proc: Path, pids: list[int]) -> tuple[int, int] | None:
    """Summed ``(on_cpu_ns, waiting_ns)`` of every task of ``pids`` (``schedstat``), or None."""
    run = wait = 0
    seen = False
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(proc / str(pid) / "task"):
                text = _read(proc / str(pid) / "task" / tid / "schedstat")
                if text:
                    on, delay, *_ = text.split()
                    run, wait, seen = run + int(on), wait + int(delay), True
    return (run, wait) if seen and run + wait > 0 else None


def scan(proc: Path) -> dict[int, tuple[str, int, int]]:
    """``{pid: (name, cpu jiffies, starttime)}`` of every process (the start and end scans)."""
    out: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir(proc):
        if entry.isdigit() and (st := proc_stat(proc, entry)) is not None:
            out[int(entry)] = (st[0], st[2], st[4])
    return out


class LoadWatch:
    """Samples the board's CPU use around one run; ``stop()`` returns the ``load`` record.

    ``worker_pid`` says the measuring worker's pid once it exists (None before)."""

    def __init__(self, worker_pid: Callable[[], int | None], rate_hz: float = DEFAULT_RATE_HZ,
                 proc: Path = Path("/proc"), clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.worker_pid, self.rate_hz, self.proc, self.clock = worker_pid, rate_hz, proc, clock
        self.samples: list[dict[str, Any]] = []
        self.reason: str | None = None
        self.cost_s = 0.0  # CPU seconds the sampling itself took (thread_time), scans included
        self.scan_cost_s = 0.0  # of which the start and end scans (outside the worker's timed runs)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._children_files = (proc / "self" / "task" / str(os.getpid()) / "children").exists()
        self._tree: set[int] = set()
        self._checked: set[int] = set()
        self._start_scan: dict[int, tuple[str, int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_ns = 0

    def start(self) -> None:
        """The start scan and the first sample, then the sampling thread (none without /proc)."""
        spent = time.thread_time()
        try:
            cpu_jiffies(self.proc)
        except (OSError, ValueError) as exc:
            self.reason = f"no readable {self.proc}/stat ({type(exc).__name__}: {exc})"
            return
        self._started_ns = self.clock()
        self._start_scan = scan(self.proc)
        self.scan_cost_s = time.thread_time() - spent
        self._sample()
        self.cost_s += time.thread_time() - spent
        self._thread = threading.Thread(target=self._loop, name="load-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.wait(period):
            spent = time.thread_time()
            with contextlib.suppress(Exception):  # a flaky read loses one sample, not the run
                self._sample()
            self.cost_s += time.thread_time() - spent

    def _descendants(self, pid: int) -> list[int]:
        """The worker's live descendants (kept across samples)."""
        if pid not in self._tree:
            self._tree, self._checked = {pid}, set()
        if self._children_files:
            found: set[int] = set()
            todo = [pid]
            while todo:
                p = todo.pop()
                with contextlib.suppress(OSError):
                    for tid in os.listdir(self.proc / str(p) / "task"):
                        kids = _read(self.proc / str(p) / "task" / tid / "children") or ""
                        todo += [int(k) for k in kids.split() if int(k) not in found]
                        found.update(int(k) for k in kids.split())
            self._tree = {pid, *found}
        else:
            new = [int(e) for e in os.listdir(self.proc)
                   if e.isdigit() and int(e) > pid and int(e) not in self._checked]
            for child in sorted(new)[:MAX_NEW_PIDS]:
                self._checked.add(child)
                st = proc_stat(self.proc, child)
                if st is not None and st[1] in self._tree:
                    self._tree.add(child)
        return sorted(self._tree - {pid})

    def _sample(self) -> None:
        cpus = cpu_jiffies(self.proc)
        agent = proc_stat(self.proc, "self")
        sample: dict[str, Any] = {"t_ns": self.clock(), "cpus": cpus,
                                  "agent": agent[2] if agent else 0, "worker": None}
        pid = self.worker_pid()
        if pid is not None and (own := proc_stat(self.proc, pid)) is not None:
            kids = self._descendants(pid)
            total = own[2] + own[3]
            alive = [pid]
            for kid in kids:
                if (st := proc_stat(self.proc, kid)) is not None:
                    total += st[2] + st[3]
                    alive.append(kid)
            try:
                allowed = sorted(os.sched_getaffinity(pid))
            except (OSError, AttributeError):
                allowed = sorted(cpus)
            sample["worker"] = {"pid": pid, "jiffies": total, "cpus": allowed,
                                "sched": sched_ns(self.proc, alive)}
        self.samples.append(sample)

    def stop(self, timed_window_ns: list[int] | None = None) -> dict[str, Any]:
        """Stop sampling, take the end scan, and summarize (over the timed window when given)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.reason is not None:
            return not_available(self.reason)
        spent = time.thread_time()
        end_scan = scan(self.proc)
        ended_ns = self.clock()
        self.cost_s += time.thread_time() - spent
        self.scan_cost_s += time.thread_time() - spent
        return summarize(self.samples, self._start_scan, end_scan, timed_window_ns,
                         self.rate_hz, self._tick, (self.cost_s, self.scan_cost_s),
                         ended_ns - self._started_ns, self._tree)


def _window(samples: list[dict[str, Any]], window: list[int] | None
            ) -> tuple[list[dict[str, Any]], str]:
    """The samples with the worker alive that cover the timed window (one either side)."""
    alive = [s for s in samples if s["worker"] is not None]
    if window and len(window) == 2 and len(alive) >= 2:
        before = [i for i, s in enumerate(alive) if s["t_ns"] <= window[0]]
        after = [i for i, s in enumerate(alive) if s["t_ns"] >= window[1]]
        first = before[-1] if before else 0
        last = after[0] if after else len(alive) - 1
        if last > first:
            return alive[first:last + 1], "timed runs"
    return alive, "whole run"


def cost(cost_s: tuple[float, float], watched_ns: int, samples: int) -> dict[str, Any]:
    """What the sampling cost the agent: CPU seconds in all and of the two scans, and the periodic
    sampling's share of one CPU while the worker ran (the scans run before and after it)."""
    total, scans = cost_s
    watched = watched_ns / 1e9
    return {"sampler_cpu_s": round(total, 6), "scans_cpu_s": round(scans, 6),
            "sampler_cpu_pct": round(100.0 * total / watched, 3) if watched > 0 else None,
            "sampling_cpu_pct": round(100.0 * (total - scans) / watched, 3) if watched > 0 else None,
            "per_sample_ms": round(1e3 * (total - scans) / samples, 3) if samples else None,
            "watched_s": round(watched, 3)}


def summarize(samples: list[dict[str, Any]], start_scan: dict[int, tuple[str, int, int]],
              end_scan: dict[int, tuple[str, int, int]], timed_window_ns: list[int] | None,
              rate_hz: float, tick: int, cost_s: tuple[float, float], watched_ns: int,
              worker_tree: set[int]) -> dict[str, Any]:
    """The ``load`` record from the samples and the two scans."""
    used, window = _window(samples, timed_window_ns)
    if len(used) < 2:
        return not_available("the worker lived for fewer than two load samples "
                             f"({len(used)} at {rate_hz:g} Hz): a run too short to judge")
    cpus = used[-1]["worker"]["cpus"]
    all_cpus = sorted(used[-1]["cpus"])
    other_j = steal_j = worker_j = 0
    seconds = 0.0
    peaks: list[float] = []
    for a, b in zip(used, used[1:], strict=False):
        dt = (b["t_ns"] - a["t_ns"]) / 1e9
        busy = sum(b["cpus"].get(c, (0, 0))[0] - a["cpus"].get(c, (0, 0))[0] for c in cpus)
        steal = sum(b["cpus"].get(c, (0, 0))[1] - a["cpus"].get(c, (0, 0))[1] for c in cpus)
        mine = max(0, b["worker"]["jiffies"] - a["worker"]["jiffies"])
        other = max(0, busy - mine - max(0, b["agent"] - a["agent"]))
        other_j, steal_j, worker_j, seconds = other_j + other, steal_j + steal, worker_j + mine, seconds + dt
        if dt > 0:
            peaks.append(100.0 * other / tick / dt)
    first, last = used[0]["worker"]["sched"], used[-1]["worker"]["sched"]
    wait_pct = None
    if first and last:
        ran, waited = max(0, last[0] - first[0]), max(0, last[1] - first[1])
        wait_pct = round(100.0 * waited / (ran + waited), 1) if ran + waited else None
    exclude = worker_tree | {os.getpid()}
    top: list[dict[str, Any]] = []
    for pid, (name, cpu, started) in end_scan.items():
        if pid in exclude:
            continue
        before = start_scan.get(pid)
        delta = cpu - before[1] if before and before[2] == started else cpu
        if delta > 0:
            top.append({"pid": pid, "name": name,
                        "cpu_pct": round(100.0 * delta / tick / (watched_ns / 1e9), 1)})
    top.sort(key=lambda p: -float(p["cpu_pct"]))

    def pct(jiffies: int) -> float:
        return round(100.0 * jiffies / tick / seconds, 1) if seconds > 0 else 0.0

    return {
        "available": True,
        "method": METHOD.format(rate=f"{rate_hz:g}"),
        "window": window,
        "window_s": round(seconds, 3),
        "cpus": cpus,
        "cpus_pinned": cpus != all_cpus,
        "other_cpu_pct": {"mean": pct(other_j), "max": round(max(peaks), 1) if peaks else None},
        "worker_cpu_pct": pct(worker_j),
        "worker_wait_pct": wait_pct,
        "steal_cpu_pct": pct(steal_j),
        "top_other": top[:TOP_N],
        "top_other_window": "whole run",
        "samples": len(used),
        "rate_hz": rate_hz,
        "clk_tck": tick,
        "cost": cost(cost_s, watched_ns, len(samples)),
    }
