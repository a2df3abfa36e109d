#!/usr/bin/env python
"""Conversion overlapping measurement: a deploy's wall time now, before, and its two parts alone.

    python bench/overlap.py [--model mobilenet_v2] [--preset quick] [--device lab1] [--keep-lab]

Brings up one stand-in board (``testbed lab up --boards 1``: a network namespace with its own sshd on
this machine; needs root), installs the agent on it, deploys MODEL (all variants) to it four ways,
each in a fresh ``TESTBED_HOME`` under a temporary folder (so every conversion really runs), and
takes the lab down again whatever happens:

* ``now``: the engine as shipped: conversions in worker processes (``TESTBED_CONVERT_JOBS``, default
  the CPUs), each variant measured on the board as soon as its artifact is ready;
* ``before``: convert every variant one after another in one process, then measure them all (what
  ``testbed deploy`` did before: ``Options(overlap=False)`` and one conversion process);
* ``convert_only``: the conversions alone, as ``now`` runs them (parallel), nothing measured; and
  ``convert_sequential``: one after another, as ``before`` runs them;
* ``measure_only``: the deploy again right after ``now``, every artifact in the cache: the
  measurement alone.

Writes ``bench/results/overlap-<utc>.json`` (format 1: every mode's wall time, per-variant status,
the machine, its load average and CPU count) and prints the summary. The lab board is processes on
this same machine: on a 2-core host its measurement competes with the conversions for the CPUs,
which a real remote board does not (said in the results file).
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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
FORMAT = 1  # 1: first version


def testbed(*args: str, env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "testbed"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "testbed.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _fresh_cache(home: Path) -> None:
    shutil.rmtree(home / "cache" / "artifacts", ignore_errors=True)


def _deploy(args: argparse.Namespace, overlap: bool) -> dict[str, Any]:
    """One deploy through the Python API (the same path as `testbed deploy`): wall time and rows."""
    from testbed import profiles
    from testbed.deploy import DeployOptions, deploy
    from testbed.engine.run import Options
    from testbed.store import Store

    profile = profiles.load(args.device)
    start = time.monotonic()
    outcome = deploy(profile, args.model, DeployOptions(preset=args.preset), Store(),
                     run_options=Options(overlap=overlap))
    wall = time.monotonic() - start
    return {"wall_s": round(wall, 2), "run_id": outcome.run_id, "status": outcome.status,
            "convert_s": outcome.convert_s,
            "variants": [{"converter": r["converter"], "status": r["status"], "error": r.get("error"),
                          "p50_ms": (r.get("latency_ms") or {}).get("p50"), "cached": r.get("cached")}
                         for r in outcome.rows]}


def _convert(args: argparse.Namespace) -> dict[str, Any]:
    """The conversions alone, as the engine runs them (worker processes, TESTBED_CONVERT_JOBS)."""
    import testbed_zoo
    from testbed import profiles
    from testbed.convert import choose
    from testbed.engine.artifacts import Conversions

    profile = profiles.load(args.device)
    model = testbed_zoo.load(args.model)
    convs = choose(model, None, None, None, profile.runtimes).converters
    start = time.monotonic()
    conversions = Conversions({args.model: model}, [(args.model, c.name) for c in convs])
    try:
        arts = list(conversions.ready(threading.Event()))
    except BaseException:  # Ctrl-C: stop the conversion processes too (they would hold the exit)
        conversions.close(abort=True)
        raise
    return {"wall_s": round(time.monotonic() - start, 2),
            "variants": [{"converter": a.converter, "status": a.status, "error": a.error,
                          "conversion_s": a.conversion_s} for _, a in arts]}


def _mode(name: str, home: Path, jobs: int | None, cold: bool, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if cold:
        _fresh_cache(home)
    if jobs is None:
        os.environ.pop("TESTBED_CONVERT_JOBS", None)
    else:
        os.environ["TESTBED_CONVERT_JOBS"] = str(jobs)
    load = os.getloadavg()[0]
    print(f"{name} ...", file=sys.stderr, flush=True)
    out = fn()
    out.update(mode=name, convert_jobs=jobs or "default", cold_cache=cold, load_avg_1m=[load, os.getloadavg()[0]])
    print(f"{name}: {out['wall_s']} s", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--device", default="lab1")
    parser.add_argument("--keep-lab", action="store_true", help="Leave the lab up at the end.")
    parser.add_argument("--modes", default="convert_only,convert_sequential,measure_only,now,before")
    parser.add_argument("--merge", type=Path, help="Add these modes to an earlier results file (a session cut short).")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="testbed-bench-overlap-"))
    wheels = Path(os.environ.get("TESTBED_HOME") or Path.home() / ".testbed") / "wheelhouse"
    if wheels.is_dir():  # the lab's agent install reuses the wheels already downloaded
        (home / "wheelhouse").symlink_to(wheels)
    os.environ["TESTBED_HOME"] = str(home)
    env = dict(os.environ)
    result: dict[str, Any] = {
        "format": FORMAT, "bench": "overlap", "model": args.model, "preset": args.preset, "device": args.device,
        "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "modes": [], "notes": [],
    }
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"overlap-{stamp}.json"
    if args.merge:  # the earlier session's modes and notes first; its lab was taken down, this one has its own
        path = args.merge
        earlier = json.loads(path.read_text())
        result["modes"], result["notes"] = earlier["modes"], [*earlier["notes"], f"session 2 at {result['utc']}"]
    try:
        for step in (("lab", "up", "--boards", "1"), ("agent", "install", "--device", args.device)):
            proc = testbed(*step, env=env)
            if proc.returncode != 0:
                result["notes"].append(f"`testbed {' '.join(step)}` failed: {proc.stderr.strip()[-800:]}")
                return _write(path, result, 1)
        wanted = args.modes.split(",")
        plans: list[tuple[str, int | None, bool, Callable[[], dict[str, Any]]]] = [
            ("convert_only", None, True, lambda: _convert(args)),
            ("convert_sequential", 1, True, lambda: _convert(args)),
            ("now", None, True, lambda: _deploy(args, overlap=True)),
            ("measure_only", None, False, lambda: _deploy(args, overlap=True)),  # the cache 'now' filled
            ("before", 1, True, lambda: _deploy(args, overlap=False)),
        ]
        for name, jobs, cold, fn in plans:
            if name in wanted:
                try:
                    result["modes"].append(_mode(name, home, jobs, cold, fn))
                except Exception as exc:  # noqa: BLE001 - keep the modes that ran; say what failed
                    result["notes"].append(f"mode {name} failed: {type(exc).__name__}: {exc}")
                _write(path, result, None)
    finally:
        if not args.keep_lab:
            down = testbed("lab", "down", env=env)
            result["notes"].append(f"lab down: exit {down.returncode}")
        _write(path, result, None)
    _summary(result)
    return 0


def _write(path: Path, result: dict[str, Any], code: int | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return code or 0


def _summary(result: dict[str, Any]) -> None:
    walls = {m["mode"]: m["wall_s"] for m in result["modes"]}
    for name, wall in walls.items():
        print(f"{name:<20} {wall:8.1f} s")
    if {"now", "before"} <= set(walls):
        print(f"now / before: {walls['now'] / walls['before']:.2f}")
    if {"now", "convert_only", "measure_only"} <= set(walls):
        print(f"now / max(convert_only, measure_only): "
              f"{walls['now'] / max(walls['convert_only'], walls['measure_only']):.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
