"""The load watch against the real /proc: a busy process beside a 'worker' shows in other_cpu_pct and
top_other; the worker's own child (a native runner's binary) counts as the worker, not as other load."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed_agent.loadwatch import LoadWatch

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")

SPIN = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < {s}: pass"


def spin(seconds: float, cpu: int | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", SPIN.format(s=seconds)])
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def watch(worker: subprocess.Popen[bytes], pid: int | None = None) -> dict:
    lw = LoadWatch(lambda: pid or worker.pid, rate_hz=4.0)
    lw.start()
    worker.wait()
    return lw.stop()


def test_a_busy_process_beside_the_worker_is_other_load() -> None:
    cpu = min(os.sched_getaffinity(0))
    busy = spin(30, cpu)
    try:
        load = watch(spin(2.0, cpu))
    finally:
        busy.kill()
        busy.wait()
    assert load["available"] and load["cpus"] == [cpu] and load["cpus_pinned"] == (os.cpu_count() != 1)
    assert load["other_cpu_pct"]["mean"] >= 25.0, load  # the busy loop shares the one CPU
    assert load["worker_wait_pct"] is not None and load["worker_wait_pct"] >= 10.0, load
    assert busy.pid in [p["pid"] for p in load["top_other"]], load["top_other"]
    assert load["samples"] >= 5 and load["rate_hz"] == 4.0 and load["window"] == "whole run"
    assert 0 < load["cost"]["sampler_cpu_s"] < 0.5


def test_the_workers_child_is_the_worker() -> None:
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys\n"
                               f"subprocess.run([sys.executable, '-c', {SPIN.format(s=2.0)!r}])"])
    load = watch(parent)
    # the parent only waits: what the worker used is its child's spin, found and counted (>= 20 %
    # of a CPU even on a shared CI machine; ~0 if the child were taken for other load)
    assert load["worker_cpu_pct"] >= 20.0, load


def test_timed_window_and_no_proc(tmp_path: Path) -> None:
    worker = spin(1.5)
    lw = LoadWatch(lambda: worker.pid, rate_hz=4.0)
    lw.start()
    time.sleep(0.5)
    t0 = time.monotonic_ns()
    time.sleep(0.5)
    window = [t0, time.monotonic_ns()]
    worker.wait()
    load = lw.stop(window)
    assert load["window"] == "timed runs" and load["window_s"] < 2.0  # 0.5 s and a sample either side
    bare = LoadWatch(lambda: None, proc=tmp_path)
    bare.start()
    assert bare.stop() == {"available": False,
                           "reason": f"no readable {tmp_path}/stat (FileNotFoundError: "
                                     f"[Errno 2] No such file or directory: '{tmp_path}/stat')"}
