#!/usr/bin/env python
"""A plan over N stand-in boards on two lab hosts (Celery workers) against the slowest board alone.

    python bench/celery_lab.py [--boards 4] [--model digits_cnn] [--repeats 3] [--rounds 2]

Needs root (network namespaces). Brings up ``testbed lab up --boards N --hosts 2 --pin`` (two lab
host namespaces, each owning N/2 boards with a real sshd), a throwaway ``redis-server`` and
PostgreSQL cluster (tests/helpers: loopback and unix sockets only), the agent on every board (this
checkout's venv: the boards share this machine's filesystem) and one `testbed worker --boards
tag:hostK` inside each host's namespace (host1's also serves the conversion queue). Then, after one
warm-up plan over all boards (conversions into the store, the boards' fork servers started):

* ``together``: `testbed run --engine celery` of a plan over all N boards;
* ``alone``: the same plan for each board by itself.

The plan: MODEL to ONNX (from PyTorch, fp32) on ONNX Runtime, threads 1 and 2, ``--repeats`` runs per
cell, ``--preset`` (default: ``quick``).

Each round times both; the figure is together / slowest alone, three ways: the command's wall time
(with the controller's own start: imports, plan, store), the run's span in the store (created to
finished: what the engine does) and the cells' span (first cell started to last cell finished).
Writes ``bench/results/celery-lab-<utc>.json`` and prints the summary; the
lab, workers and servers are removed whatever happens.

Honest limit: the stand-in boards are processes on this machine (2 CPUs here), pinned round robin, so
N boards measuring at once compete for the CPUs, which boards of their own do not. The measurement
presets are time-bound (fixed warm-up and timed windows), so a cell's length does not grow
with that competition; its latency figures do, and are not the point of this benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
FORMAT = 1
sys.path.insert(0, str(REPO / "tests"))  # the throwaway servers of the tests (helpers/redis.py, postgres.py)

from helpers import postgres  # noqa: E402
from helpers.celery_worker import Worker  # noqa: E402
from helpers.redis import RedisServer  # noqa: E402


def testbed_cmd() -> list[str]:
    script = Path(sys.executable).parent / "testbed"
    return [str(script)] if script.exists() else [sys.executable, "-m", "testbed.cli"]


def sh(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout)


def plan_file(root: Path, name: str, boards: list[str], args: argparse.Namespace) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "engine": "celery", "devices": boards, "models": [args.model], "formats": ["onnx"],
        "sources": ["pytorch"], "quantization": ["fp32"], "runtimes": ["onnxruntime"], "threads": [1, 2],
        "repeats": args.repeats, "measure": {"preset": args.preset},
        "execution": {"retries": 0, "health_timeout_s": 10, "cell_timeout_s": 60, "on_busy": "skip",
                      "lease_ttl_s": 30}}))
    return path


def timed_run(plan: Path, env: dict[str, str], db: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = sh([*testbed_cmd(), "run", "--plan", str(plan), "--json"], env)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: a regression flagged against the previous round (noise here)
        raise RuntimeError(f"testbed run {plan.name}: rc {proc.returncode}: {proc.stderr[-1500:]}")
    out = json.loads(proc.stdout)
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            first, last, n = conn.execute(sa.text(
                "SELECT min(started_at), max(finished_at), count(*) FROM plan_cells WHERE run_id = :r"),
                {"r": out["run_id"]}).one()
        with engine.connect() as conn:
            created, finished = conn.execute(sa.text(
                "SELECT created_at, finished_at FROM plan_runs WHERE id = :r"), {"r": out["run_id"]}).one()
            per_cell = [{"cell": key, "start_s": round((start - created).total_seconds(), 2),
                         "end_s": round((end - created).total_seconds(), 2)}
                        for key, start, end in conn.execute(sa.text(
                            "SELECT key, started_at, finished_at FROM plan_cells WHERE run_id = :r ORDER BY key"),
                            {"r": out["run_id"]})]
    finally:
        engine.dispose()
    states = sorted({c["state"] for c in out["cells"]})
    return {"run_id": out["run_id"], "wall_s": round(wall, 2), "cells": n, "states": states,
            "run_span_s": round((finished - created).total_seconds(), 2),
            "cells_span_s": round((last - first).total_seconds(), 2), "cells_from_run_start": per_cell}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=4)
    parser.add_argument("--model", default="digits_cnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", default="quick", choices=["quick", "default", "mlperf"])
    args = parser.parse_args()
    if args.boards < 2 or args.boards % 2:
        parser.error("--boards: an even number >= 2 (two lab hosts, the same number of boards each)")
    root = Path(tempfile.mkdtemp(prefix="testbed-bench-celery-"))
    home = root / "controller-home"
    redis, pg = RedisServer(), postgres.start()
    base = {"TESTBED_PROFILES": str(home / "lab" / "profiles"), "TESTBED_VISIBILITY_TIMEOUT_S": "3600"}
    env = {**base, "TESTBED_HOME": str(home), "TESTBED_DB": pg.url, "TESTBED_BROKER": redis.url}
    workers: list[Worker] = []
    try:
        up = sh([*testbed_cmd(), "lab", "up", "--boards", str(args.boards), "--hosts", "2", "--pin"], env)
        if up.returncode != 0:
            raise RuntimeError(f"lab up: {up.stderr.strip()}")
        state = json.loads((home / "lab" / "state.json").read_text())
        hosts = {h["name"]: h["netns"] for h in state["hosts"]}
        owner = {b["name"]: b["lab_host"] for b in state["boards"]}
        for board, host in owner.items():
            profile = home / "lab" / "profiles" / f"{board}.yaml"
            data = yaml.safe_load(profile.read_text())
            data["agent"]["python"] = sys.executable
            data["runtimes"] = ["onnxruntime"]
            profile.write_text(yaml.safe_dump(data))
            started = sh(["ip", "netns", "exec", hosts[host], *testbed_cmd(), "agent", "start", "--device", board], env)
            if started.returncode != 0:
                raise RuntimeError(f"agent start {board}: {started.stderr.strip()[-500:]}")
        for host, netns in hosts.items():
            wenv = {**base, "TESTBED_HOME": str(root / f"{host}-home"), "TESTBED_DB": pg.socket_url,
                    "TESTBED_BROKER": redis.socket_url}
            workers.append(Worker(wenv, [b for b, h in owner.items() if h == host], netns=netns, select=f"tag:{host}",
                                  args=("--convert", "1") if host == "host1" else ()))
        boards = sorted(owner, key=lambda b: int(b[3:]))
        print(f"warm-up: {len(boards)} boards", flush=True)
        warm = timed_run(plan_file(root, "bench-all", boards, args), env, pg.url)
        rounds = []
        for r in range(args.rounds):
            # a plan name of its own per run: no baseline, so no run spends time on verdicts the others skip
            together = timed_run(plan_file(root, f"bench-all-r{r + 1}", boards, args), env, pg.url)
            alone = {b: timed_run(plan_file(root, f"bench-{b}-r{r + 1}", [b], args), env, pg.url) for b in boards}
            row: dict[str, Any] = {"together": together, "alone": alone}
            for what in ("wall_s", "run_span_s", "cells_span_s"):
                slowest = max(a[what] for a in alone.values())
                row[f"slowest_alone_{what}"] = slowest
                row[f"ratio_{what}"] = round(together[what] / slowest, 3)
            rounds.append(row)
            print(f"round {r + 1}: together / slowest board alone: "
                  + ", ".join(f"{what} {together[what]:.1f}/{row[f'slowest_alone_{what}']:.1f} = "
                              f"{row[f'ratio_{what}']:.3f}x" for what in ("wall_s", "run_span_s", "cells_span_s")),
                  flush=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"celery-lab-{stamp}.json"
        out.write_text(json.dumps({
            "format": FORMAT, "benchmark": "celery_lab", "boards": len(boards), "hosts": 2, "model": args.model,
            "repeats": args.repeats, "preset": args.preset, "threads": [1, 2], "warmup_run": warm, "rounds": rounds,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
            "note": "stand-in boards are processes on this machine, pinned round robin over its CPUs; "
                    "the presets are time-bound, so a cell's length does not grow with CPU competition; "
                    "wall_s includes the controller's own start (imports, model, reference outputs)",
        }, indent=2) + "\n")
        print(f"wrote {out.relative_to(REPO)}")
        return 0
    finally:
        for w in workers:
            w.stop()
        sh([*testbed_cmd(), "lab", "down"], env, timeout=120)
        redis.close()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
