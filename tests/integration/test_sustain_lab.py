"""A sustained run (`testbed deploy --sustain 2m`) on a stand-in board whose CPU quota is cut half-way,
no mocks: `testbed lab up` makes the board (a network namespace, a real sshd in a cgroup capped at one
CPU), the deploy starts the agent there over SSH (this checkout's, see the fixture), and while the deploy times its one variant for two
minutes this test cuts the board's cgroup to a quarter of a CPU about 60 s into the timed loop. The
slowdown must show in the record's per-second curve and in the printed summary.

The model takes several ms per inference on one core (a few convolutions on a 96x96 input): a cap moves
the median only when an inference is longer than the slices the scheduler hands out. The cut therefore
also shortens the cgroup's period to 4 ms (quota 1 ms): every inference spans several throttled periods.
(A sub-millisecond model runs whole inside a slice: a cap then shows as fewer inferences per second, the
curve's ``n``, and in its tail, not in its median - see docs/sustain.md.)

Needs root and `ip netns` (marker ``lab``), like tests/integration/test_lab.py. About 3.5 minutes: the
window is 2 minutes; the rest is the conversion, the agent's start and `lab up`/`down`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers import netns
from helpers.cli import TESTBED, run

REASON = netns.skip_reason()
pytestmark = [pytest.mark.integration, pytest.mark.lab,
              pytest.mark.skipif(REASON is not None, reason=f"lab tests: {REASON}")]

HEAVY = '''import torch


def build():
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(8, 32, 3, padding=1), torch.nn.ReLU()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    return net.eval(), (torch.zeros(1, 8, 96, 96),)
'''
CUT_AT_S = 60.0  # into the timed loop (after the first "measuring" line, plus the upload and warm-up)
WARMUP_ALLOWANCE_S = 3.0


def _cut_quota(cgroup: str) -> None:
    """A quarter of a CPU, in 4 ms periods (cgroup v2 ``cpu.max``, else v1 ``cfs_period_us``/``cfs_quota_us``)."""
    path = Path(cgroup)
    if (path / "cpu.max").exists():
        (path / "cpu.max").write_text("1000 4000")
    else:
        (path / "cpu.cfs_period_us").write_text("4000")
        (path / "cpu.cfs_quota_us").write_text("1000")


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One board capped at one CPU in its own TESTBED_HOME; torn down and checked clean."""
    root = tmp_path_factory.mktemp("sustain-lab")
    home = root / "home"
    (root / "models").mkdir()
    (root / "models" / "sus_heavy.py").write_text(HEAVY)
    env = {"TESTBED_HOME": str(home), "TESTBED_PROFILES": str(home / "lab" / "profiles"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(root / "models"), os.environ.get("PYTHONPATH", "")) if p),
           "TESTBED_DB": f"sqlite:///{root / 'results.db'}"}
    up = run("lab", "up", "--boards", "1", "--cpu-quota", "1", env=env)
    state_file = home / "lab" / "state.json"
    lab_id = json.loads(state_file.read_text())["lab_id"] if state_file.exists() else None
    try:
        assert up.returncode == 0, up.stderr
        # the agent from this checkout's venv (same disk, started over the board's SSH, so inside its cgroup):
        # `agent install` into the board's own venv is test_lab.py's subject, and takes a minute
        profile = home / "lab" / "profiles" / "lab1.yaml"
        profile.write_text(re.sub(r"(?m)^  python: .*$", f"  python: {sys.executable}", profile.read_text()))
        yield {"env": env, "cgroup": json.loads(state_file.read_text())["boards"][0]["cgroup"]}
    finally:
        down = run("lab", "down", env=env)
        assert down.returncode == 0, down.stderr
        if lab_id:
            assert netns.leftovers(lab_id, home / "lab") == []


def test_a_quota_cut_half_way_shows_in_the_curve_and_the_summary(board: dict) -> None:
    assert board["cgroup"], "the lab made no cgroup for the board"
    proc = subprocess.Popen(
        [TESTBED, "deploy", "--device", "lab1", "--model", "sus_heavy:build", "--formats", "onnx", "--sources",
         "pytorch", "--quant", "fp32", "--threads", "1", "--sustain", "2m"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **board["env"]})
    cut: dict[str, float] = {}
    stderr: list[str] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)
            if "measuring sus_heavy" in line and not cut:
                cut["started"] = time.monotonic()
                timer = threading.Timer(WARMUP_ALLOWANCE_S + CUT_AT_S, _cut_quota, (board["cgroup"],))
                timer.daemon = True
                timer.start()
                cut["armed"] = 1.0

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    assert proc.returncode == 0, "".join(stderr)[-3000:]
    assert cut.get("armed"), "no 'measuring' line: the quota was never cut\n" + "".join(stderr)[-2000:]

    from testbed.api import results, runs

    db = board["env"]["TESTBED_DB"]
    rows = results(runs(1, db=db)[0].run_id, db=db).rows
    assert len(rows) == 1 and rows[0].status == "ok", rows
    curve = rows[0].record["sustain"]
    assert curve is not None and curve["window_s"] == 120.0 and curve["truncated"] is None, curve
    assert curve["compare"] == "first and last minute"
    per = curve["per_second"]
    assert len(per) >= 119 and sum(p["n"] for p in per) == curve["n"]
    before = np.median([p["p50_ms"] for p in per[5:55] if p["p50_ms"] is not None])
    after = np.median([p["p50_ms"] for p in per[75:115] if p["p50_ms"] is not None])
    assert after > 1.5 * before, (before, after)  # the curve shows the cut
    assert curve["slowdown_pct"] > 50, curve["slowdown_pct"]
    assert curve["last_minute_p50_ms"] > 1.5 * curve["first_minute_p50_ms"]

    # the printed summary: the window, and the variant's first and last minute with the slowdown
    assert "sustained 2.0 min: the ranking at the start holds at the end" in out, out
    line = next(x for x in out.splitlines() if "first minute" in x and "-> last minute" in x)
    assert f"({curve['slowdown_pct']:+.0f} %)" in line, line
