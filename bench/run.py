#!/usr/bin/env python
"""Harness-overhead benchmark: the agent's measurement path against a bare loop on the same artifact.

For every runtime (LiteRT, ONNX Runtime, ExecuTorch through its Python bindings, ExecuTorch through
our native runner) on ``digits_cnn`` and ``mobilenet_v2`` fp32: **testbed** (the agent's own
measurement path, ``testbed_agent.measure.measure(request)``) against **bare** (the minimal loop a
user would write with the runtime's own API), interleaved in one worker process per repeat; ratio =
median(testbed samples) / median(bare samples) of that repeat. Five repeats, each in a fresh process.
Multi-input models are fed every input on both sides (``minilm_l6``: three int32 ``[1, 128]`` token
arrays; optional, ``--models minilm_l6``: not in ``make bench``'s default list).

    python bench/run.py [--models digits_cnn,mobilenet_v2] [--runtimes ...] [--repeats 5] [--threads 1]
                        [--load-watch on|off|both]

The agent samples the other load on the board while a worker measures (``testbed_agent.loadwatch``,
from ``/proc``, in the agent process): here this script plays the agent and runs the same
``LoadWatch`` on each repeat's worker process (``--load-watch on``, the default, as every deploy
does). ``both`` runs every repeat twice, without and with it (alternating which goes first), and
adds the ratio with the sampler on against off and the sampler's own CPU cost to the results.

Writes ``bench/results/harness-<utc>.json`` (every sample median, machine info, load average) and
the Markdown summary into ``bench/README.md`` between its ``bench:harness`` markers.

Where it lives: this script is the orchestrator (machine info, the artifacts, one fresh worker
process per repeat, the results file); ``harness_worker`` the worker (``run.py --worker``: both sides
in detail, the bare loops, the interleaved blocks); ``harness_report`` the statistics over the
repeats, the Markdown table and the README update.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness_report import load_watch_summary, markdown, summarize, update_readme
from harness_worker import worker_main

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

MODELS = ("digits_cnn", "mobilenet_v2")  # the default list (``make bench``)
#: run only when named in ``--models``: minilm_l6 (3 int32 inputs) adds minutes to a run.
OPTIONAL_MODELS = ("minilm_l6",)
#: runtime -> the converter whose artifact it runs (fp32).
RUNTIMES = {"litert": "tflite-keras-fp32", "onnxruntime": "onnx-torch-fp32",
            "executorch": "executorch-xnnpack-fp32", "executorch-native": "executorch-xnnpack-fp32"}
#: per model: calls per block, blocks per repeat, warm-up calls before each block.
SIZES = {"digits_cnn": {"n": 400, "blocks": 6, "warmup": 20},
         "mobilenet_v2": {"n": 8, "blocks": 30, "warmup": 3},
         # ~100 ms a call here (1 thread, load 5-7): 60 samples a side per repeat, ~50 s a repeat
         "minilm_l6": {"n": 5, "blocks": 12, "warmup": 2}}


# --- the orchestrator ------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in ("ai-edge-litert", "onnxruntime", "executorch", "torch", "numpy"):
        try:
            import importlib.metadata

            versions[dist] = importlib.metadata.version(dist)
        except Exception:
            versions[dist] = None
    return {"hostname": platform.node(), "machine": platform.machine(), "cpu": cpu,
            "cores": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
            "os": platform.platform(), "python": platform.python_version(), "versions": versions,
            "loadavg_at_start": os.getloadavg(),
            "note": "shared machine: other processes may run; see each repeat's loadavg"}


def artifacts(model_id: str) -> dict[str, tuple[str, str, list[dict[str, Any]]]]:
    """runtime -> (artifact path, inputs .npz, the inputs' tensor specs as a deploy's request sends
    them) via the host's converters and input sets (cached). A multi-input model's .npz holds
    ``timing/<name>`` per input; the worker reads every one with the agent's ``load_inputs``."""
    import testbed_zoo
    from testbed import inputs
    from testbed.converters import registry
    from testbed.converters.cache import build

    model = testbed_zoo.load(model_id)
    found: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}
    for runtime, converter in RUNTIMES.items():
        art = build(registry.get(converter), model)
        if art.status != "ok":
            raise SystemExit(f"{model_id}: {converter} failed: {art.error}")
        inset = inputs.build(model, art.layout)
        found[runtime] = (str(art.path), str(inset.path), [t.to_wire() for t in inset.tensors])
    return found


def one_repeat(spec: dict[str, Any], watched: bool) -> dict[str, Any]:
    """One repeat in a fresh worker process; ``watched``: under the agent's load watch (its record,
    the sampler's cost included, goes into the result as ``load``)."""
    from testbed_agent.loadwatch import LoadWatch

    proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = LoadWatch(lambda: proc.pid) if watched else None
    if watch is not None:
        watch.start()
    out, err = proc.communicate()
    load = watch.stop() if watch is not None else None
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        return {"error": f"worker exit {proc.returncode}: {err[-500:]}"}
    if load is not None:
        result["load"] = load
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated; also: {', '.join(OPTIONAL_MODELS)}")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="inference threads (0 = runtime default)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite bench/README.md")
    parser.add_argument("--load-watch", choices=("on", "off", "both"), default="on",
                        help="sample the other load on each repeat's worker as the agent does (on); "
                             "both: every repeat without and with it, compared")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in SIZES]
    if unknown:
        raise SystemExit(f"no SIZES entry for {', '.join(unknown)}: the bench runs {', '.join(SIZES)}")
    runtimes = [r for r in args.runtimes.split(",") if r]
    threads = args.threads or None
    bare_binary = None
    if "executorch-native" in runtimes:
        from testbed_agent.native import build

        try:
            bare_binary = str(build.build(source=BENCH / "bare_et.cpp", name="bare_et"))
        except build.BuildError as exc:
            print(f"executorch-native skipped: {exc}", file=sys.stderr)
            runtimes.remove("executorch-native")
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.load_watch]
    run: dict[str, Any] = {"started": started, "machine": machine_info(), "threads": threads,
                           "repeats": args.repeats, "models": models, "sizes": SIZES,
                           "load_watch_mode": args.load_watch, "raw": {}, "summary": {},
                           "raw_load_watch_off": {}, "load_watch": {}}
    for model in models:
        arts = artifacts(model)
        for runtime in runtimes:
            path, inputs, tensors = arts[runtime]
            spec = {"runtime": runtime, "artifact": path, "inputs": inputs, "tensors": tensors, "threads": threads,
                    "bare_binary": bare_binary, **SIZES[model]}
            by_mode: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
            for i in range(args.repeats):
                for watched in modes[i % len(modes):] + modes[:i % len(modes)]:
                    result = one_repeat(spec, watched)
                    if "error" in result:
                        raise SystemExit(f"{model}/{runtime} repeat {i}: {result['error']}")
                    by_mode[watched].append(result)
                    med = result["medians_ns"]
                    print(f"{model:13s} {runtime:18s} repeat {i} (load watch {'on' if watched else 'off'}): "
                          f"testbed {med['testbed'] / 1e6:.4f} ms, bare {med['bare'] / 1e6:.4f} ms, "
                          f"ratio {med['testbed'] / med['bare']:.3f} (load {result['loadavg_before'][0]:.1f})",
                          flush=True)
            main_mode = args.load_watch != "off"
            run["raw"][f"{model}/{runtime}"] = by_mode[main_mode]
            run["summary"][f"{model}/{runtime}"] = summarize(by_mode[main_mode])
            if args.load_watch == "both":
                run["raw_load_watch_off"][f"{model}/{runtime}"] = by_mode[False]
                run["load_watch"][f"{model}/{runtime}"] = load_watch_summary(by_mode[True], by_mode[False])
    run["machine"]["loadavg_at_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"harness-{started.replace(':', '')}.json"
    (RESULTS / name).write_text(json.dumps(run, indent=1))
    table = markdown(run)
    print(table)
    if not args.no_readme:
        update_readme(table, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
