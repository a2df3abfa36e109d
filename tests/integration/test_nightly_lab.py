"""A nightly plan on three virtual boards (`testbed lab`: network namespaces, a real sshd each, the agent
installed by `testbed agent install`, reached over real SSH), no mocks:

* one board's network is cut mid-plan from the namespace side (``ip -n NS link set eth0 down``; never the
  host end): its cell in flight is retried, then it and the board's remaining cells are marked ``error``
  with the reason; the other boards finish;
* after the board is back, ``testbed run --resume`` completes only the missing cells;
* a board slowed by a CPU cap between two runs is flagged regressed; a board left alone is not.

The stand-in boards share this machine's CPUs, so each is pinned to one (``lab up --pin``: lab1 and lab3
on the first CPU, lab2 on the second), and the roles are laid out on them so that the board left alone
(CALM, lab2) has its CPU to itself: the board cut off (CUT, lab3) and the capped one (CAPPED, lab1) share
the other. Unpinned, or sharing a CPU, how busy the *other* boards happen to be moves a board's own
latency: a 17 us two-thread cell on the untouched board came out +83 % "regressed" in CI though nothing
on it changed.

Needs root and ``ip netns`` (marker ``lab``), like tests/integration/test_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from helpers import netns
from helpers.cli import TESTBED, run
from helpers.nightly import wait_for
from testbed.store import Store

REASON = netns.skip_reason()
pytestmark = [pytest.mark.integration, pytest.mark.lab,
              pytest.mark.skipif(REASON is not None, reason=f"lab tests: {REASON}")]

# Several ms per inference on one core (~340 M multiply-adds): longer than a capped board's CPU slice,
# so a cap moves the median. (A sub-millisecond model runs whole inside each slice: a cap then stretches
# the run and its tail, not its median - measured: +0.7 % for a 0.26 ms model at a fifth of a CPU.)
HEAVY = '''import torch


def build():
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(8, 32, 3, padding=1), torch.nn.ReLU()]
    for _ in range(4):
        layers += [torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    return net.eval(), (torch.zeros(1, 8, 96, 96),)
'''
LIGHT = '''import torch


def build():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 10))
    return net.eval(), (torch.zeros(1, 64),)
'''
BOARDS = ["lab1", "lab2", "lab3"]
CAPPED, CALM, CUT = BOARDS  # pinned: lab1 and lab3 share CPU 0, lab2 has CPU 1 to itself


def _testbed(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return run(*args, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def lab(testbed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Three boards (each in a cgroup, uncapped, pinned to one CPU) with the agent installed, in their own
    TESTBED_HOME."""
    root = tmp_path_factory.mktemp("nightly-lab")
    home = root / "home"
    (root / "models").mkdir()
    (root / "models" / "nb_heavy.py").write_text(HEAVY)
    (root / "models" / "nb_light.py").write_text(LIGHT)
    env = {"TESTBED_HOME": str(home), "TESTBED_PROFILES": str(home / "lab" / "profiles"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(root / "models"), os.environ.get("PYTHONPATH", "")) if p),
           "TESTBED_DB": f"sqlite:///{root / 'results.db'}"}
    up = _testbed(env, "lab", "up", "--boards", "3", "--cpu-quota", str(os.cpu_count() or 1), "--pin")
    state_file = home / "lab" / "state.json"
    lab_id = json.loads(state_file.read_text())["lab_id"] if state_file.exists() else None
    try:
        assert up.returncode == 0, up.stderr
        wheelhouse = testbed_home / "wheelhouse"  # shared with test_lab.py: downloaded once per session
        for board in BOARDS:
            inst = _testbed(env, "agent", "install", "--device", board, "--wheelhouse", str(wheelhouse),
                            "--service", "process")
            assert inst.returncode == 0, inst.stderr[-2000:]
        state = json.loads(state_file.read_text())
        yield {"env": env, "root": root, "db": env["TESTBED_DB"],
               "boards": {b["name"]: b for b in state["boards"]}}
    finally:
        down = _testbed(env, "lab", "down")
        assert down.returncode == 0, down.stderr
        if lab_id:
            assert netns.leftovers(lab_id, home / "lab") == []


def _plan(lab: dict) -> Path:
    path = lab["root"] / "nb-lab.yaml"
    path.write_text(yaml.safe_dump({
        "name": "nb-lab", "devices": BOARDS, "models": ["nb_light:build", "nb_heavy:build"],
        "formats": ["onnx"], "sources": ["pytorch"], "quantization": ["fp32"], "runtimes": ["onnxruntime"],
        "threads": [1, 2], "repeats": 3, "measure": {"preset": "quick", "warmup": 2, "iterations": 30},
        "execution": {"retries": 1, "backoff_s": 1, "health_timeout_s": 15, "cell_timeout_s": 120,
                      "lease_ttl_s": 15, "on_busy": "wait", "lease_wait_s": 120},
        "verdict": {"threshold_pct": 10}}))
    return path


def _link(board: dict, up: bool) -> None:
    """From inside the board's namespace only (never the host end of the veth)."""
    subprocess.run(["ip", "-n", board["netns"], "link", "set", "eth0", "up" if up else "down"], check=True)


def _run_json(lab: dict, *args: str) -> tuple[int, dict]:
    proc = _testbed(lab["env"], "run", *args, "--json")
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"rc={proc.returncode} {proc.stdout[-1000:]} {proc.stderr[-3000:]}") from None


@pytest.fixture(scope="module")
def baseline(lab: dict) -> dict:
    """Run 1 with CUT's network cut mid-plan, then --resume once it is back."""
    plan = _plan(lab)
    store = Store(lab["db"])
    proc = subprocess.Popen([TESTBED, "run", "--plan", str(plan), "--json"], env={**os.environ, **lab["env"]},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cut = lab["boards"][CUT]
    try:
        run_row = wait_for(lambda: next(iter(store.plan_runs("nb-lab", limit=1)), None), 600, "the run")
        wait_for(lambda: any(c.device == CUT and c.state == "done" for c in store.plan_cells(run_row.id)),
                 600, f"{CUT}'s first finished cell")
        _link(cut, up=False)
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        _link(cut, up=True)
        if proc.poll() is None:
            proc.kill()
    first = json.loads(stdout)
    cells = store.plan_cells(run_row.id)
    results = store.cell_results(c.id for c in cells)
    before = {c.key: (c.state, c.error, c.attempts, [r.id for r in results[c.id]]) for c in cells}
    rc, resumed = _run_json(lab, "--resume", run_row.id)
    return {"rc": proc.returncode, "first": first, "stderr": stderr, "before": before,
            "resume_rc": rc, "resumed": resumed, "run_id": run_row.id}


def test_a_board_cut_off_mid_plan_is_retried_then_its_cells_fail_with_the_reason(baseline: dict) -> None:
    first = baseline["first"]
    assert baseline["rc"] == 3, baseline["stderr"][-3000:]  # incomplete
    assert first["boards"][CALM]["status"] == "ok" and first["boards"][CAPPED]["status"] == "ok"
    assert first["boards"][CUT]["status"] == "lost", first["boards"]
    by_board: dict[str, list[dict]] = {}
    for c in first["cells"]:
        by_board.setdefault(c["device"], []).append(c)
    for board in (CALM, CAPPED):
        assert {c["state"] for c in by_board[board]} == {"done"}, by_board[board]
    cut = by_board[CUT]
    assert any(c["state"] == "done" for c in cut) and any(c["state"] == "error" for c in cut)
    failed = [c for c in cut if c["state"] == "error"]
    assert all(c["error"] for c in failed)
    retried = [k for k, (state, error, attempts, _) in baseline["before"].items()
               if k.startswith(f"{CUT}/") and state == "error" and attempts == 2]
    assert len(retried) == 1, baseline["before"]  # the cell in flight: two attempts, then given up
    assert "after 2 attempts" in next(c["error"] for c in failed if c["key"] == retried[0])
    assert all("board lost" in c["error"] for c in failed if c["key"] != retried[0])


def test_resume_after_the_board_returns_completes_only_the_missing_cells(lab: dict, baseline: dict) -> None:
    assert baseline["resume_rc"] == 0, baseline["resumed"]
    store = Store(lab["db"])
    cells = {c.key: c for c in store.plan_cells(baseline["run_id"])}
    results = store.cell_results(c.id for c in cells.values())
    assert all(c.state == "done" for c in cells.values())
    for key, (state, _, attempts, result_ids) in baseline["before"].items():
        if state == "done":  # finished before the cut: untouched
            assert [r.id for r in results[cells[key].id]] == result_ids and cells[key].attempts == attempts
        else:
            assert key.startswith(f"{CUT}/") and len(results[cells[key].id]) == 3
    assert store.plan_run(baseline["run_id"]).status == "done"


def test_a_cpu_capped_board_is_regressed_and_an_untouched_one_is_not(lab: dict, baseline: dict) -> None:
    assert baseline["resume_rc"] == 0
    cg = Path(lab["boards"][CAPPED]["cgroup"])
    if (cg / "cpu.max").exists():  # cgroup v2
        (cg / "cpu.max").write_text("2000 10000")  # a fifth of a CPU, in 10 ms periods
    else:  # v1
        (cg / "cpu.cfs_period_us").write_text("10000")
        (cg / "cpu.cfs_quota_us").write_text("2000")
    rc, out = _run_json(lab, "--plan", str(_plan(lab)))
    assert out["baseline"] == baseline["run_id"]
    verdicts = {c["key"]: c for c in out["cells"]}
    assert rc == (1 if any(c["verdict"] == "regressed" for c in verdicts.values()) else 0), out
    for threads in (1, 2):
        capped = verdicts[f"{CAPPED}/nb_heavy:build/onnx-torch-fp32/t{threads}"]
        assert capped["latency_change_pct"] > 50, capped
        # regressed - or, where the capped board's own record says its CPUs were contended or throttled
        # (a stand-in board sees the host's other processes, and a CPU quota keeps its threads waiting:
        # testbed.trust), noisy with the slowdown and the board named, not blamed on the model
        reason = capped["verdict_reason"] or ""
        assert capped["verdict"] == "regressed" or (
            capped["verdict"] == "noisy" and "slower by" in reason
            and ("but this result is contended" in reason or "but this result is throttled" in reason)), capped
    # The board left alone: its cells all measured, and the heavy model's (ms an inference) never judged
    # regressed. Its 20 us cells are reported but not held to it: on stand-in boards that share the host
    # (its controller, sshd and tunnels float over both CPUs) they moved by tens of percent between two
    # runs in the full suite, consistently enough across repeats for a significant "regression".
    for key, cell in verdicts.items():
        if key.startswith(f"{CALM}/"):
            assert cell["verdict"] != "broken", (key, cell["verdict_reason"])
            if "/nb_heavy:" in key:
                assert cell["verdict"] != "regressed", (key, cell["verdict_reason"])
