#!/usr/bin/env python
"""Where a deploy's time goes: ``testbed deploy`` run N times in a row, time per variant by phase.

    python bench/deploy_phases.py [--model digits_cnn] [--device local] [--preset quick] [--runs 2]
                                  [--worker-start forkserver|exec] [--formats executorch,onnx,tflite]

Each run is the real console script (``testbed deploy ... --json``), timed from outside (wall
time of the command, conversion cache checks and agent start included). The records' ``wall_s``
and ``phases_s`` (record schema 4) give each variant's time on the host and how it splits: the
host's (reference outputs, transfer, polling, record) and the agent's (fork server start, worker
start, runtime import, load, warm-up, timed runs, power windows, evaluation...).

Writes ``bench/results/deploy-phases-<utc>.json`` (every run's command wall time, every variant's
phases, the machine and its load average) and prints a summary: per run, the sum of each phase
over the variants. ``--worker-start exec`` runs the local agent with ``--worker-start exec``
(through ``TESTBED_AGENT_WORKER_START``) to compare with a new interpreter per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def testbed_command() -> list[str]:
    script = Path(sys.executable).parent / "testbed"
    return [str(script)] if script.exists() else [sys.executable, "-m", "testbed.cli"]


def one_run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cmd = testbed_command() + ["deploy", "--device", args.device, "--model", args.model, "--preset",
                               args.preset, "--json"] + (["--formats", args.formats] if args.formats else [])
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rows = json.loads(proc.stdout)
    variants = [{"converter": r["converter"], "status": r["status"], "wall_s": r.get("wall_s"),
                 "phases_s": r.get("phases_s"), "worker": r.get("worker"),
                 "model_memory_mb": r.get("model_memory_mb"), "peak_rss_mb": r.get("peak_rss_mb"),
                 "power_missing_reason": (r.get("power") or {}).get("missing_reason")}
                for r in rows]
    return {"command_wall_s": round(wall, 3), "load_avg_1m": [load_before, os.getloadavg()[0]],
            "variants": variants, "totals_s": totals(variants)}


def totals(variants: list[dict[str, Any]]) -> dict[str, float]:
    """Each phase summed over the variants, largest first, and their wall time."""
    out: dict[str, float] = {}
    for v in variants:
        for name, seconds in (v.get("phases_s") or {}).items():
            out[name] = out.get(name, 0.0) + seconds
    ordered = dict(sorted(((k, round(s, 3)) for k, s in out.items()), key=lambda kv: -kv[1]))
    ordered["variants_wall"] = round(sum(v.get("wall_s") or 0.0 for v in variants), 3)
    return ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits_cnn")
    parser.add_argument("--device", default="local")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--worker-start", choices=("forkserver", "exec"), default=None)
    parser.add_argument("--formats", default=None,
                        help="e.g. executorch,onnx,tflite: the 16 edge variants without the framework baselines")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.worker_start:
        env["TESTBED_AGENT_WORKER_START"] = args.worker_start
    runs = []
    for i in range(args.runs):
        run = one_run(args, env)
        runs.append(run)
        ok = sum(v["status"] == "ok" for v in run["variants"])
        print(f"run {i + 1}: {run['command_wall_s']:.1f} s for {len(run['variants'])} variants "
              f"({ok} ok); load {run['load_avg_1m'][0]:.1f}-{run['load_avg_1m'][1]:.1f}")
        print("   " + ", ".join(f"{k} {v:.2f}" for k, v in run["totals_s"].items() if v >= 0.005))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"deploy-phases-{stamp}.json"
    out.write_text(json.dumps({
        "benchmark": "deploy-phases", "utc": stamp, "model": args.model, "device": args.device,
        "preset": args.preset, "worker_start": args.worker_start or "agent default",
        "formats": args.formats or "all the profile lists",
        "machine": {"node": platform.node(), "cpu_count": os.cpu_count(),
                    "platform": platform.platform(), "python": platform.python_version()},
        "runs": runs}, indent=1) + "\n")
    print(f"wrote {out.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
