"""Acceptance (issue 16): a real measurement on ``--device local`` with busy loops on every CPU it
can use is marked ``contended`` with the reason; a quiet one is ``steady`` - or ``noisy`` when, and only
when, its own samples drifted (nothing of the load checks).

The quiet run is only a fair check on a quiet machine: the test first samples the machine's CPU use
for a second and skips (saying how busy it was) when something else already uses a quarter of it -
CI runs the suite serially, so there it runs; a shared development machine may be busy. The model is
mobilenet_v2 on one thread (~13 ms): digits_cnn's ~36 us inferences alternate between windows of ~23
and ~45 us medians on the 2-core build VM, quiet or not, pinned or not - honestly ``noisy`` every time.
Quiet, mobilenet_v2 was ``steady`` in 3 of 4 runs (block medians within 1.4-7.7 % CV) and ``noisy`` in
one (11 %: the VM drifted) (2026-11-30). So the quiet check takes up to ``QUIET_TRIES`` runs and stops at
the first ``steady``; a run that is not steady must be ``noisy`` with drift reasons backed by its
figures, never a load reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from helpers.cli import run_json

pytestmark = pytest.mark.integration

ONE_VARIANT = ("deploy", "--device", "local", "--model", "mobilenet_v2", "--formats", "onnx",
               "--sources", "pytorch", "--quant", "fp32", "--threads", "1")
QUIET_TRIES = 3


def busy_share_pct(seconds: float = 1.0) -> float:
    """The machine's busy share (% of all CPUs) over ``seconds``, from /proc/stat."""
    def read() -> tuple[int, int]:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6], sum(v[:8])
    b0, t0 = read()
    time.sleep(seconds)
    b1, t1 = read()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def measured(records: list[dict]) -> dict:
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 1, [(r["status"], r.get("error")) for r in records]
    return ok[0]


@pytest.fixture(scope="module")
def quiet() -> tuple[float, list[dict]]:
    """The machine's busy share just before, and the quiet runs: up to ``QUIET_TRIES``, until one is
    steady (the first also converts: the busy run after them then only measures)."""
    busy = busy_share_pct()
    runs: list[dict] = []
    while len(runs) < QUIET_TRIES and (not runs or runs[-1]["trust"]["verdict"] != "steady"):
        runs.append(measured(run_json(*ONE_VARIANT, timeout=300)))
    return busy, runs


def test_a_quiet_run_is_steady_or_noisy_from_its_own_drift_never_contended(quiet: tuple[float, list[dict]]) -> None:
    busy, runs = quiet
    if busy >= 25.0:
        pytest.skip(f"the machine was busy already ({busy:.0f} % of its CPUs, load average "
                    f"{os.getloadavg()[0]:.1f}): a quiet run cannot be checked here now")
    for rec in runs:
        _steady_or_noisy_from_drift(rec["trust"])


def _steady_or_noisy_from_drift(trust: dict) -> None:
    checks, limits = trust["checks"], trust["thresholds"]
    if "other_share_pct" in checks:
        assert checks["other_share_pct"] < limits["other_share_pct"] and "unchecked" in trust, trust
    else:  # a run that stopped within ~1 s: fewer than two load samples (2 Hz); the record says so
        assert any(u.startswith("other load: the worker lived for fewer than two load samples")
                   for u in trust["unchecked"]), trust
    assert not any(r.startswith(("other processes", "the measurement's threads waited")) for r in trust["reasons"])
    if trust["verdict"] == "steady":
        assert trust["reasons"] == [], trust
        return
    assert trust["verdict"] == "noisy", trust  # its own samples drifted: the figures must say so
    drift = checks["block_cv_pct"] is not None and checks["block_cv_pct"] > limits["block_cv_pct"]
    wide = checks["ci_pct"] is not None and checks["ci_pct"] > limits["ci_pct"]
    assert drift or wide, trust
    assert len(trust["reasons"]) == int(drift) + int(wide), trust


def test_busy_loops_beside_it_make_it_contended(quiet: tuple[float, list[dict]]) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in cpus]
    try:
        for cpu, proc in zip(cpus, loops, strict=True):
            os.sched_setaffinity(proc.pid, {cpu})
        rec = measured(run_json(*ONE_VARIANT, timeout=300))
    finally:
        for proc in loops:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    trust = rec["trust"]
    assert trust["verdict"] == "contended", trust
    assert trust["reasons"][0].startswith("other processes used "), trust["reasons"]
    assert trust["checks"]["other_share_pct"] >= 25.0
