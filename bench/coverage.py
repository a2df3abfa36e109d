#!/usr/bin/env python
"""Does the reported interval cover a rerun? Repeated measurements of one model, each as a deploy takes it.

For one model (``mobilenet_v2`` fp32 by default; its artifacts from the host's converters and cache,
as ``bench/run.py`` gets them) and each runtime, ``--runs`` (>= 21) measurements with a preset
(``default``), each in ``--repeats`` (1) **fresh workers** exactly as the agent starts one for a deploy: ``python -m
testbed_agent.worker`` with the worker request on stdin (runtime import, load, first inference,
warm-up, the timed phase with the preset's stopping), holding this machine's measurement lock like a
local deploy does. Every statistic comes from the result as the host computes it for the record
(``testbed.stats.result_latency``: the raw samples, and the windows where the agent reports them).

Per runtime:

* ``first_interval_share``: the share of the reruns (runs 2..N) whose median falls inside the first
  run's reported interval - the question a user asks of a ``± x %``;
* ``pairwise_share``: over all ordered pairs (i, j), i != j, the share of run i's interval holding run
  j's median (every run as "the first": less dependent on one lucky or unlucky first run);
  ``next_run_share``: the share of runs i + 1 whose median is inside run i's interval (a rerun
  right after, before the machine's load moves on);
* the spread of the medians (min, max, range and CV in %), the median interval width (``ci_pct``);
* ``mlperf_replicability``: MLPerf asks that 5 tries agree within 5 %; over every 5 consecutive runs,
  whether (max - min) / min <= 5 %, and the share of such windows that pass.

    python bench/coverage.py --label before [--model mobilenet_v2] [--runtimes onnxruntime,litert]
        [--runs 21] [--preset default] [--repeats 5] [--no-lock]
        [--agent-code OTHER_WORKTREE/device_agent --commit SHA]
    python bench/coverage.py --recompute bench/results/coverage-before-<utc>.json   # the figures again

Writes ``bench/results/coverage-<label>-<utc>.json``: the machine, the load average before and after
each runtime, the git commit, and every run's median, interval, n, stop reason and seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
#: runtime -> the converter whose artifact it runs (fp32), as bench/run.py.
RUNTIMES = {"onnxruntime": "onnx-torch-fp32", "litert": "tflite-keras-fp32",
            "executorch": "executorch-xnnpack-fp32", "executorch-native": "executorch-xnnpack-fp32"}
MLPERF_TRIES = 5
MLPERF_TOLERANCE_PCT = 5.0


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _artifact(model_id: str, runtime: str) -> tuple[str, str, list[dict[str, Any]]]:
    """(artifact path, inputs .npz, the inputs' tensor specs) via the host's converters (cached)."""
    import testbed_zoo
    from testbed import inputs
    from testbed.converters import registry
    from testbed.converters.cache import build

    model = testbed_zoo.load(model_id)
    art = build(registry.get(RUNTIMES[runtime]), model)
    if art.status != "ok":
        raise SystemExit(f"{model_id}: {RUNTIMES[runtime]} failed: {art.error}")
    inset = inputs.build(model, art.layout)
    return str(art.path), str(inset.path), [t.to_wire() for t in inset.tensors]


def _request(preset: str, runtime: str, art: tuple[str, str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The worker request a local deploy sends (``engine.request.run_settings`` without power)."""
    from testbed import profiles

    profile = profiles.load("local")
    measure = profile.measure.effective(preset)
    path, inputs_path, tensors = art
    return {"runtime": runtime, "artifact_path": path, "inputs_path": inputs_path, "inputs": tensors,
            "threads": profile.threads, "warmup": measure.warmup, "warmup_min_s": measure.warmup_min_s,
            "iterations": measure.iterations, "min_time_s": measure.min_s,
            "max_time_s": measure.max_s, "ci_target_pct": measure.ci_target_pct,
            "return_outputs": False}


def one_run(request: dict[str, Any], lock: bool, agent_code: str | None = None, repeats: int = 1
            ) -> dict[str, Any]:
    """One measurement as a deploy takes it: ``repeats`` fresh workers (``deploy --repeats``), each
    under the machine's measurement lock; the host's summary of their results (``stats.result_latency``
    for one worker, ``stats.repeats_latency`` for several). ``agent_code``: a ``device_agent`` folder
    whose ``testbed_agent`` the workers run instead of this checkout's (another commit's worktree: a
    before/after pair on one machine, minutes apart)."""
    from testbed.stats import repeats_latency, result_latency

    results, seconds, load_before = [], 0.0, os.getloadavg()
    for _ in range(repeats):
        result, took = _worker(request, lock, agent_code)
        results.append(result)
        seconds += took
    latency = (result_latency(results[0]) if repeats == 1
               else repeats_latency([[int(s) for s in r["samples_ns"]] for r in results]))
    agent = results[0].get("measurement") or {}
    return {"median_ms": latency["p50"], "ci_low_ms": latency["ci_low"], "ci_high_ms": latency["ci_high"],
            "ci_pct": latency["ci_pct"], "ci_method": latency.get("ci_method"), "n": latency["n"],
            "windows": len(agent.get("windows") or []) or None,
            "stop_reason": agent.get("stop_reason"), "timed_s": agent.get("timed_s"),
            **({"workers": repeats, "worker_p50s_ms": latency.get("run_p50s")} if repeats > 1 else {}),
            "worker_s": round(seconds, 3), "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


def _worker(request: dict[str, Any], lock: bool, agent_code: str | None) -> tuple[dict[str, Any], float]:
    """One fresh worker under the machine's measurement lock: its result and its seconds."""
    from testbed.transports.local import machine_lock

    hold = machine_lock() if lock else None
    try:
        start = time.monotonic()
        env = None if agent_code is None else {**os.environ, "PYTHONPATH": agent_code}
        proc = subprocess.run([sys.executable, "-m", "testbed_agent.worker"], input=json.dumps(request),
                              capture_output=True, text=True, env=env)
        seconds = time.monotonic() - start
    finally:
        if hold is not None:
            hold.close()
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"worker exit {proc.returncode}: {proc.stderr[-800:]}") from None
    if "error" in result:
        raise SystemExit(f"worker: {result['error']}")
    return result, seconds


def coverage(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one runtime's runs (see the module docstring)."""
    medians = np.array([r["median_ms"] for r in runs])
    lows = np.array([r["ci_low_ms"] if r["ci_low_ms"] is not None else np.nan for r in runs])
    highs = np.array([r["ci_high_ms"] if r["ci_high_ms"] is not None else np.nan for r in runs])
    inside = (medians[1:] >= lows[0]) & (medians[1:] <= highs[0])
    following = (medians[1:] >= lows[:-1]) & (medians[1:] <= highs[:-1])  # run i+1 in run i's
    pairs = [(i, j) for i in range(len(runs)) for j in range(len(runs)) if i != j]
    held = [bool(lows[i] <= medians[j] <= highs[i]) for i, j in pairs]
    tries = [medians[k:k + MLPERF_TRIES] for k in range(len(runs) - MLPERF_TRIES + 1)]
    spreads = [float((t.max() - t.min()) / t.min() * 100.0) for t in tries]
    passed = [s <= MLPERF_TOLERANCE_PCT for s in spreads]
    return {
        "runs": len(runs), "reruns": len(runs) - 1,
        "first_interval_ms": [float(lows[0]), float(highs[0])],
        "first_interval_share": float(inside.mean()) if inside.size else None,
        "first_interval_hits": int(inside.sum()),
        "pairwise_share": float(np.mean(held)) if held else None, "pairs": len(held),
        "next_run_share": float(following.mean()) if following.size else None,
        "median_ms": {"min": float(medians.min()), "max": float(medians.max()),
                      "median": float(np.median(medians)),
                      "range_pct": float((medians.max() - medians.min()) / np.median(medians) * 100),
                      "cv_pct": float(medians.std(ddof=1) / medians.mean() * 100)},
        "ci_pct_median": float(np.nanmedian([r["ci_pct"] if r["ci_pct"] is not None else np.nan
                                             for r in runs])),
        "worker_s_median": float(np.median([r["worker_s"] for r in runs])),
        "mlperf_replicability": {
            "tries": MLPERF_TRIES, "tolerance_pct": MLPERF_TOLERANCE_PCT,
            "windows": len(tries), "passed": int(sum(passed)),
            "share": float(np.mean(passed)) if passed else None,
            "worst_spread_pct": max(spreads) if spreads else None,
            "first_five_spread_pct": spreads[0] if spreads else None},
    }


def board_history(runs: list[dict[str, Any]], seed: int, runtime: str, prior: list[float] | None = None
                  ) -> dict[str, Any]:
    """The same figures for the interval a deploy reports once the store has reruns of the variant
    (``testbed.rerun_spread``: at least the board's run-to-run spread): run i's interval widened with the
    spread of runs 0..i-1 - the history the store would hold - through the product's own ``estimate``
    and ``widen``. The first ``seed`` runs are that history only; the figures are over the rest, and a
    pair (i, j) counts only j > i (run j is no part of run i's history). ``prior``: medians of the same
    runtime from earlier files of this machine (``--history-from``), in the history before the seed: the
    store of a board that has been measured for hours, not seconds."""
    from testbed import rerun_spread

    evaluated = []
    for i in range(seed, len(runs)):
        r = runs[i]
        spread = rerun_spread.estimate("bench", runtime, [("variant", m) for m in prior or []]
                                       + [("variant", x["median_ms"]) for x in runs[:i]])
        latency = rerun_spread.widen({"p50": r["median_ms"], "ci_low": r["ci_low_ms"], "ci_high": r["ci_high_ms"],
                                      "ci_pct": r["ci_pct"], "ci_method": r.get("ci_method"), "ci_level": 0.95},
                                     spread)
        evaluated.append({**r, "ci_low_ms": latency["ci_low"], "ci_high_ms": latency["ci_high"],
                          "ci_pct": latency["ci_pct"], "board_df": spread.df})
    if len(evaluated) < 2:
        return {"seed_runs": seed, "runs": len(evaluated), "note": "too few runs after the seed"}
    figures = coverage(evaluated)
    medians = np.array([r["median_ms"] for r in evaluated])
    later = [bool(evaluated[i]["ci_low_ms"] <= medians[j] <= evaluated[i]["ci_high_ms"])
             for i in range(len(evaluated)) for j in range(i + 1, len(evaluated))]
    figures.pop("pairwise_share"), figures.pop("pairs")
    return {"seed_runs": seed, "prior_runs": len(prior or []), **figures,
            "later_pairs_share": float(np.mean(later)), "later_pairs": len(later),
            "first_df": evaluated[0]["board_df"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", help="before / after: goes into the file name")
    parser.add_argument("--recompute", metavar="FILE", help="print the figures of a results file's runs")
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--runtimes", default="onnxruntime,litert,executorch,executorch-native")
    parser.add_argument("--runs", type=int, default=21, help="the first run and its reruns (>= 21)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--repeats", type=int, default=1, help="fresh workers per measurement, as "
                        "`testbed deploy --repeats` (the interval from their medians)")
    parser.add_argument("--history", type=int, default=0, metavar="K", help="also the figures of the interval "
                        "widened to the board's run-to-run spread (testbed.rerun_spread) from the runs before "
                        "it: K more runs first, as the store's history (0: not computed)")
    parser.add_argument("--history-from", default="", metavar="FILES", help="with --recompute: the one-worker "
                        "runs of these earlier results files (comma-separated) come first in the board's history")
    parser.add_argument("--commit", help="the commit of the code under test (default: git HEAD here)")
    parser.add_argument("--no-lock", action="store_true", help="do not take the machine's measurement lock")
    parser.add_argument("--agent-code", metavar="DIR", help="the workers run the testbed_agent of DIR (a "
                        "device_agent folder of another commit's worktree, e.g. the code before a change)")
    args = parser.parse_args(argv)
    if args.recompute:
        stored = json.loads(Path(args.recompute).read_text())
        prior_files = [json.loads(Path(f).read_text()) for f in args.history_from.split(",") if f]
        print(json.dumps({rt: {"own": coverage(v["runs"][args.history:]),
                               **({"board_history": board_history(
                                   v["runs"], args.history, rt,
                                   [r["median_ms"] for p in prior_files
                                    for r in p["runtimes"].get(rt, {}).get("runs", [])])}
                                  if args.history or prior_files else {})}
                          for rt, v in stored["runtimes"].items()}, indent=1))
        return 0
    if not args.label:
        raise SystemExit("--label is needed (before / after): it goes into the results file's name")
    if args.runs < 2:
        raise SystemExit("--runs must be >= 2 (a first run and at least one rerun)")
    if args.repeats < 1:
        raise SystemExit("--repeats must be >= 1 (fresh workers per measurement)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from run import machine_info

    from testbed_agent.runtimes import registry

    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, Any] = {"label": args.label, "started": started, "git_commit": args.commit or _git_commit(),
                           "model": args.model, "preset": args.preset, "runs_per_runtime": args.runs,
                           "repeats": args.repeats, "history_runs": args.history,
                           "machine": machine_info(), "runtimes": {}, "skipped": {}}
    path = RESULTS / f"coverage-{args.label}-{started.replace(':', '')}.json"
    for runtime in [r for r in args.runtimes.split(",") if r]:
        probe = registry.get(runtime).probe()
        if not probe.available:
            out["skipped"][runtime] = probe.reason
            print(f"{runtime}: skipped ({probe.reason})", flush=True)
            continue
        request = _request(args.preset, runtime, _artifact(args.model, runtime))
        load_before = os.getloadavg()
        runs = []
        for i in range(args.history + args.runs):
            run = one_run(dict(request), lock=not args.no_lock, agent_code=args.agent_code,
                          repeats=args.repeats)
            runs.append(run)
            print(f"{runtime:18s} run {i:2d}: p50 {run['median_ms']:.4f} ms "
                  f"[{run['ci_low_ms']}, {run['ci_high_ms']}] ±{run['ci_pct'] or float('nan'):.2f} % "
                  f"n={run['n']} {run['stop_reason']} {run['worker_s']:.1f} s "
                  f"(load {run['loadavg_before'][0]:.2f})", flush=True)
        figures = coverage(runs[args.history:])  # the run's own interval, over the same runs as the board's
        out["runtimes"][runtime] = {"request": request, "loadavg_before": load_before,
                                    "loadavg_after": os.getloadavg(), "coverage": figures, "runs": runs}
        if args.history:
            board = board_history(runs, args.history, runtime)
            out["runtimes"][runtime]["board_history"] = board
            print(f"{runtime}: with the board's run-to-run spread: {board['first_interval_hits']}/"
                  f"{board['reruns']} inside the first interval; later pairs {board['later_pairs_share']:.2f}; "
                  f"next run {board['next_run_share']:.2f}; median ±{board['ci_pct_median']:.1f} %", flush=True)
        print(f"{runtime}: {figures['first_interval_hits']}/{figures['reruns']} reruns inside the first "
              f"interval; pairwise {figures['pairwise_share']:.2f}; medians "
              f"{figures['median_ms']['min']:.3f}-{figures['median_ms']['max']:.3f} ms; MLPerf 5 tries "
              f"within 5 %: {figures['mlperf_replicability']['passed']}/"
              f"{figures['mlperf_replicability']['windows']}", flush=True)
        _save(out, path)  # after each runtime: a long bench cut short keeps what it measured
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    out["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _save(out, path)
    print(path)
    return 0


def _save(out: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
