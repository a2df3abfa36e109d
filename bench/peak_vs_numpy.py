#!/usr/bin/env python
"""The board's fp32 peak as the agent measures it, against a plain numpy/BLAS matmul measured the same way.

    python bench/peak_vs_numpy.py [--threads 1,N] [--rounds 3] [--size 2048] [--repeats 10]

For each thread count (default: one core, and every CPU this process may use), each round runs, one
after the other so both see the same machine:

* the peak benchmark the way the agent does (``testbed_agent.peak.measure``: ``peak_bench.c`` compiled
  with this machine's compiler, -O3 -march=native, N threads, best of 10 repetitions), in a fresh cache
  folder so it really runs;
* numpy's fp32 matmul of two SIZE x SIZE matrices (BLAS sgemm, 2 x SIZE^3 FLOPs) in a subprocess whose
  BLAS has N threads (``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS``, checked with
  threadpoolctl), best of REPEATS.

Each figure is the best over all rounds. A BLAS sgemm reaches ~70-95 % of the FMA peak of the cores
it runs on, so the peak should be at or above the BLAS figure and not wildly above it: the verdict is
``within`` when BLAS <= peak < 2 x BLAS. Also reported: the figure the deploys on this machine use
(the machine-wide peak cache, measured once). Writes ``bench/results/peak-vs-numpy-<utc>.json``
(format 1) with the machine, its load average and every round. Holds this machine's measurement lock
(the one ``testbed deploy --device local`` takes) throughout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
FORMAT = 1  # 1: first version

NUMPY_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
size, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.random((size, size), dtype=np.float32)
b = rng.random((size, size), dtype=np.float32)
a @ b  # warm-up: the BLAS thread pool starts
best = 0.0
for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
pools = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")} for p in threadpool_info()]
print(json.dumps({"gflops": best, "numpy": np.__version__, "blas": pools}))
"""


def numpy_matmul(threads: int, size: int, repeats: int) -> dict[str, Any]:
    """Best GFLOP/s of numpy's fp32 matmul in a subprocess whose BLAS uses ``threads`` threads."""
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    proc = subprocess.run([sys.executable, "-c", NUMPY_CHILD, str(size), str(repeats)], capture_output=True,
                          text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the numpy matmul failed: {proc.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(proc.stdout))


def main(argv: list[str] | None = None) -> int:
    from testbed.transports.local import machine_lock
    from testbed_agent import peak

    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default=",".join(dict.fromkeys(("1", str(cpus)))),
                        help="thread counts, comma-separated, each compared on its own (default: %(default)s: one "
                             "core, and every CPU this process may use)")
    parser.add_argument("--rounds", type=int, default=3, help="peak, then numpy, this many times (%(default)s)")
    parser.add_argument("--size", type=int, default=2048, help="matrix size (%(default)s)")
    parser.add_argument("--repeats", type=int, default=10, help="numpy matmuls per round, best taken (%(default)s)")
    args = parser.parse_args(argv)
    hold = machine_lock()  # as `testbed deploy --device local` does: no two measurements at once
    try:
        load_before = os.getloadavg()
        compared = [_compare(int(t), args, peak) for t in args.threads.split(",")]
        load_after = os.getloadavg()
    finally:
        hold.close()
    result = {
        "format": FORMAT, "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "cpu_model": compared[0]["cpu_model"], "loadavg_before": load_before, "loadavg_after": load_after},
        "size": args.size, "numpy_repeats": args.repeats, "by_threads": compared,
        "within_range": all(c["within_range"] for c in compared),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"peak-vs-numpy-{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for c in compared:
        print(c["verdict"])
    print(f"written: {out.relative_to(BENCH.parent)}")
    return 0


def _compare(threads: int, args: argparse.Namespace, peak: Any) -> dict[str, Any]:
    """Rounds of (the peak benchmark fresh, numpy's matmul) with ``threads``; the best of each."""
    rounds = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="peak-") as tmp:
            fresh = peak.measure(threads, cache=Path(tmp))
        if not fresh.get("available"):
            raise SystemExit(f"no peak on this machine: {fresh.get('reason')}")
        blas = numpy_matmul(threads, args.size, args.repeats)
        rounds.append({"peak_fp32_gflops": fresh["fp32_gflops"], "numpy_gflops": round(blas["gflops"], 3),
                       "bandwidth_gb_per_s": fresh["bandwidth_gb_per_s"], "loadavg_1m": os.getloadavg()[0]})
        print(f"{threads} thread(s), round {i + 1}: peak {fresh['fp32_gflops']:.1f} GFLOP/s, "
              f"numpy {blas['gflops']:.1f} GFLOP/s")
    best_peak = max(r["peak_fp32_gflops"] for r in rounds)
    best_blas = max(r["numpy_gflops"] for r in rounds)
    ratio = best_peak / best_blas
    within = best_blas <= best_peak < 2 * best_blas
    deployed = peak.measure(threads)  # what deploys on this machine use (cached machine-wide)
    return {
        "threads": threads, "rounds": rounds, "best_peak_fp32_gflops": best_peak, "best_numpy_gflops": best_blas,
        "peak_over_numpy": round(ratio, 3), "within_range": within, "cpu_model": fresh["setting"]["cpu_model"],
        "verdict": (f"{threads} thread(s): peak {best_peak:.1f} GFLOP/s is {ratio:.2f}x the numpy/BLAS sgemm's "
                    f"{best_blas:.1f} GFLOP/s: {'within' if within else 'OUTSIDE'} the expected range [1x, 2x)"),
        "peak_method": fresh["method"], "numpy": {"numpy": blas["numpy"], "blas": blas["blas"]},
        "deploy_peak": {k: deployed.get(k) for k in ("fp32_gflops", "int8_gops", "bandwidth_gb_per_s",
                                                     "measured_at", "cached", "reason")},
    }


if __name__ == "__main__":
    sys.exit(main())
