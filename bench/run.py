#!/usr/bin/env python
"""Harness-overhead benchmark: the agent's measurement path against a bare loop on the same artifact.

For every runtime (LiteRT, ONNX Runtime, ExecuTorch through its Python bindings, ExecuTorch through
our native runner) on ``digits_cnn`` and ``mobilenet_v2`` fp32:

* **testbed**: the agent's own worker code, ``testbed_agent.measure.measure(request)`` - the
  runtime's Session, the timed loop with its per-iteration clock, run control, GC off. Its
  ``samples_ns`` are what a deploy stores.
* **bare**: the minimal loop a user would write with the runtime's own API on the same artifact, the
  same thread count and the same input: LiteRT ``set_tensor``/``invoke()``/``get_tensor``, ONNX Runtime
  ``run()``, ExecuTorch ``method.execute()`` (the input tensor made once), native
  ``Module::forward()`` in C++ (``bench/bare_et.cpp``). Each call timed with ``perf_counter_ns``
  (``steady_clock`` in C++); GC off like the harness.

Both run in ONE worker process per repeat, in interleaved blocks (bare, testbed, testbed, bare, ...)
so drift (thermal, other load on the machine) hits both alike; ratio = median(testbed samples) /
median(bare samples) of that repeat. Five repeats, each in a fresh process, give the run-to-run
spread (CV of the medians). For the native runner, both sides are separate processes (et_runner via
the agent's code path, bare_et), still interleaved block by block.

    python bench/run.py [--models digits_cnn,mobilenet_v2] [--runtimes ...] [--repeats 5] [--threads 1]

Writes ``bench/results/harness-<utc>.json`` (every sample median, machine info, load average) and
the Markdown summary into ``bench/README.md`` between its ``bench:harness`` markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"
BEGIN, END = "<!-- bench:harness:begin -->", "<!-- bench:harness:end -->"

MODELS = ("digits_cnn", "mobilenet_v2")
#: runtime -> the converter whose artifact it runs (fp32).
RUNTIMES = {"litert": "tflite-keras-fp32", "onnxruntime": "onnx-torch-fp32",
            "executorch": "executorch-xnnpack-fp32", "executorch-native": "executorch-xnnpack-fp32"}
#: per model: calls per block, blocks per repeat, warm-up calls before each block.
SIZES = {"digits_cnn": {"n": 400, "blocks": 6, "warmup": 20},
         "mobilenet_v2": {"n": 8, "blocks": 30, "warmup": 3}}
TARGET = 1.02


# --- the worker: one repeat of one (model, runtime) -----------------------------------------------

def _py_block(call: Callable[[], Any], n: int, warmup: int) -> tuple[list[int], int]:
    """``warmup`` calls, ``n`` calls timed one by one, then ``n`` calls timed as one block."""
    for _ in range(warmup):
        call()
    pc = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        per: list[int] = []
        for _ in range(n):
            start = pc()
            call()
            per.append(pc() - start)
        start = pc()
        for _ in range(n):
            call()
        block = pc() - start
    finally:
        if was_enabled:
            gc.enable()
    return per, block


def _et_python(path: str, x: np.ndarray, threads: int | None) -> Callable[[], Any]:
    """``method.execute([tensor])`` on the ExecuTorch Python runtime, the tensor made once."""
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads is not None:
        portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(path).load_method("forward")
    tensor = torch.from_numpy(x)
    return lambda: method.execute([tensor])


class Bare:
    """The bare loop of one runtime: ``block(n, warmup) -> (per-call ns, block ns)``."""

    def __init__(self, runtime: str, path: str, x: np.ndarray, threads: int | None,
                 bare_binary: str | None) -> None:
        self.variants: dict[str, Callable[[], Any]] = {}
        self.native: list[str] | None = None
        if runtime == "litert":
            from ai_edge_litert.interpreter import Interpreter

            interp = Interpreter(model_path=path, num_threads=threads)
            interp.allocate_tensors()
            index = interp.get_input_details()[0]["index"]
            outputs = [d["index"] for d in interp.get_output_details()]

            def full() -> Any:
                interp.set_tensor(index, x)
                interp.invoke()
                return [interp.get_tensor(i) for i in outputs]

            interp.set_tensor(index, x)
            self.variants = {"bare": full, "invoke_only": interp.invoke}
        elif runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x}
            self.variants = {"bare": lambda: session.run(None, feed)}
        elif runtime == "executorch":
            self.variants = {"bare": _et_python(path, x, threads)}
        elif runtime == "executorch-native":
            assert bare_binary is not None
            # the same .pte through the Python bindings, interleaved with the C++ loop: the
            # bindings' cost per call, measured in the same time window
            self.variants = {"bindings": _et_python(path, x, threads)}
            self._tmp = tempfile.TemporaryDirectory(prefix="bare-et-")
            x.tofile(os.path.join(self._tmp.name, "x.bin"))
            self.native = [bare_binary, "--model", path, "--input", os.path.join(self._tmp.name, "x.bin"),
                           "--shape", ",".join(str(d) for d in x.shape)]
            if threads:
                self.native += ["--threads", str(threads)]
        else:
            raise ValueError(runtime)

    def block(self, variant: str, n: int, warmup: int) -> tuple[list[int], int]:
        if variant == "bare" and self.native is not None:
            out = subprocess.run(self.native + ["--n", str(n), "--warmup", str(warmup)],
                                 capture_output=True, text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            return data["per_call_ns"], data["block_ns"]
        return _py_block(self.variants[variant], n, warmup)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One repeat: interleaved bare and testbed blocks in this process."""
    from testbed_agent.measure import measure

    with np.load(spec["inputs"]) as npz:
        x = np.ascontiguousarray(npz["timing"])
    n, blocks, warmup = spec["n"], spec["blocks"], spec["warmup"]
    bare = Bare(spec["runtime"], spec["artifact"], x, spec["threads"], spec.get("bare_binary"))
    request = {"runtime": spec["runtime"], "artifact_path": spec["artifact"],
               "inputs_path": spec["inputs"], "threads": spec["threads"], "warmup": warmup,
               "iterations": n, "return_outputs": False}
    samples: dict[str, list[int]] = {"testbed": [], "bare": []}
    block_means: dict[str, list[float]] = {}
    extra = [v for v in bare.variants if v != "bare"]
    settings: dict[str, Any] = {}
    load_before = os.getloadavg()
    for b in range(blocks):
        order = ("bare", "testbed") if b % 2 == 0 else ("testbed", "bare")
        for side in order:
            if side == "bare":
                for variant in ["bare", *extra]:
                    per, block = bare.block(variant, n, warmup)
                    samples.setdefault(variant, []).extend(per)
                    block_means.setdefault(variant, []).append(block / n)
            else:
                result = measure(dict(request))
                samples["testbed"].extend(int(s) for s in result["samples_ns"])
                settings = {"runner": result.get("runner"), "threads": result.get("threads"),
                            "runtime_version": result.get("runtime_version")}
    return {"medians_ns": {k: float(np.median(v)) for k, v in samples.items()},
            "counts": {k: len(v) for k, v in samples.items()},
            "block_mean_medians_ns": {k: float(np.median(v)) for k, v in block_means.items()},
            "settings": settings, "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


def worker_main(raw: str) -> int:
    from testbed_agent.worker import isolate_stdout, write_result

    fd = isolate_stdout()  # native runtimes log to fd 1; the result must stay clean
    try:
        result = worker(json.loads(raw))
    except Exception as exc:  # one line back to the orchestrator
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    write_result(fd, result)
    return 0


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


def artifacts(model_id: str) -> dict[str, tuple[str, str]]:
    """runtime -> (artifact path, inputs .npz) via the host's converters and input sets (cached)."""
    import testbed_zoo
    from testbed import inputs
    from testbed.converters import registry
    from testbed.converters.cache import build

    model = testbed_zoo.load(model_id)
    found: dict[str, tuple[str, str]] = {}
    for runtime, converter in RUNTIMES.items():
        art = build(registry.get(converter), model)
        if art.status != "ok":
            raise SystemExit(f"{model_id}: {converter} failed: {art.error}")
        found[runtime] = (str(art.path), str(inputs.build(model, art.layout).path))
    return found


def summarize(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    testbed = [r["medians_ns"]["testbed"] for r in repeats]
    bare = [r["medians_ns"]["bare"] for r in repeats]
    ratios = [t / b for t, b in zip(testbed, bare, strict=True)]
    out = {"repeats": len(repeats), "ratio_median": statistics.median(ratios),
           "ratio_min": min(ratios), "ratio_max": max(ratios), "ratios": ratios,
           "testbed_p50_ms": statistics.median(testbed) / 1e6, "bare_p50_ms": statistics.median(bare) / 1e6,
           "cv_testbed": _cv(testbed), "cv_bare": _cv(bare)}
    if "invoke_only" in repeats[0]["medians_ns"]:
        inv = [r["medians_ns"]["invoke_only"] for r in repeats]
        out["invoke_only_p50_ms"] = statistics.median(inv) / 1e6
        out["ratio_vs_invoke_only"] = statistics.median(t / i for t, i in zip(testbed, inv, strict=True))
    if "bindings" in repeats[0]["medians_ns"]:  # paired within each repeat: same process, same window
        py = [r["medians_ns"]["bindings"] for r in repeats]
        out["bindings_p50_ms"] = statistics.median(py) / 1e6
        out["bindings_over_native"] = statistics.median(p / b for p, b in zip(py, bare, strict=True))
        out["bindings_cost_us"] = statistics.median((p - b) / 1e3 for p, b in zip(py, bare, strict=True))
        out["bindings_cost_us_range"] = [min((p - b) / 1e3 for p, b in zip(py, bare, strict=True)),
                                         max((p - b) / 1e3 for p, b in zip(py, bare, strict=True))]
    return out


def _cv(values: list[float]) -> float | None:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else None


def markdown(run: dict[str, Any]) -> str:
    m = run["machine"]
    blocks = ", ".join(f"{k}: {v['blocks']} x {v['n']} calls" for k, v in run["sizes"].items()
                       if k in run["models"])
    loads = [r["loadavg_before"][0] for reps in run["raw"].values() for r in reps]
    lines = [f"Run {run['started']} on `{m['hostname']}`: {m['cpu']}, {m['cores']} cores, "
             f"{m['os']}, Python {m['python']}; threads={run['threads']}; {run['repeats']} repeats "
             f"(fresh processes), each of interleaved blocks per side ({blocks}). 1-minute load "
             f"average during the run {min(loads):.1f}-{max(loads):.1f} on {m['cores']} cores "
             "(a shared machine: other jobs ran meanwhile).", "",
             "| model | runtime | runner | bare p50 (ms) | testbed p50 (ms) | ratio testbed/bare, median [min-max] | "
             "CV testbed | CV bare | <= 1.02 |",
             "|---|---|---|---:|---:|---|---:|---:|:---:|"]
    for key, s in run["summary"].items():
        model, runtime = key.split("/")
        runner = "native" if runtime == "executorch-native" else "python"
        lines.append(f"| {model} | {runtime} | {runner} | {s['bare_p50_ms']:.4f} | {s['testbed_p50_ms']:.4f} | "
                     f"{s['ratio_median']:.3f} [{s['ratio_min']:.3f}-{s['ratio_max']:.3f}] | "
                     f"{_pct(s['cv_testbed'])} | {_pct(s['cv_bare'])} | "
                     f"{'yes' if s['ratio_median'] <= TARGET else '**no**'} |")
    extra = [(k, s) for k, s in run["summary"].items() if "invoke_only_p50_ms" in s]
    if extra:
        lines += ["", "LiteRT's bare loop above sets the input and reads the outputs each call, as every "
                  "testbed sample does; against `invoke()` alone:", "",
                  "| model | invoke() only p50 (ms) | testbed / invoke-only |", "|---|---:|---:|"]
        for key, s in extra:
            lines.append(f"| {key.split('/')[0]} | {s['invoke_only_p50_ms']:.4f} | {s['ratio_vs_invoke_only']:.3f} |")
    pairs = [(model, run["summary"].get(f"{model}/executorch-native")) for model in run["models"]]
    pairs = [p for p in pairs if p[1] and "bindings_p50_ms" in p[1]]
    if pairs:
        lines += ["", "ExecuTorch: what the Python bindings cost per call against the native runner: "
                  "bare `method.execute([tensor])` in Python and bare `Module::forward()` in C++, same "
                  ".pte, same threads, interleaved in the same worker (paired per repeat; median and "
                  "range over the repeats):", "",
                  "| model | execute() via bindings p50 (ms) | Module::forward() native p50 (ms) | "
                  "bindings cost per call (us) [range] | bindings / native |", "|---|---:|---:|---|---:|"]
        for model, nat in pairs:
            low, high = nat["bindings_cost_us_range"]
            lines.append(f"| {model} | {nat['bindings_p50_ms']:.4f} | {nat['bare_p50_ms']:.4f} | "
                         f"{nat['bindings_cost_us']:.1f} [{low:.1f} to {high:.1f}] | "
                         f"{nat['bindings_over_native']:.3f} |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def update_readme(table: str, json_name: str) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = f"{BEGIN}\n_Latest: `results/{json_name}` (written by `make bench`)._\n\n{table}{END}"
    README.write_text(head + body + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="inference threads (0 = runtime default)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite bench/README.md")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = [m for m in args.models.split(",") if m]
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
    run: dict[str, Any] = {"started": started, "machine": machine_info(), "threads": threads,
                           "repeats": args.repeats, "models": models, "sizes": SIZES,
                           "raw": {}, "summary": {}}
    for model in models:
        arts = artifacts(model)
        for runtime in runtimes:
            path, inputs = arts[runtime]
            spec = {"runtime": runtime, "artifact": path, "inputs": inputs, "threads": threads,
                    "bare_binary": bare_binary, **SIZES[model]}
            repeats = []
            for i in range(args.repeats):
                proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                      capture_output=True, text=True)
                try:
                    result = json.loads(proc.stdout)
                except ValueError:
                    result = {"error": f"worker exit {proc.returncode}: {proc.stderr[-500:]}"}
                if "error" in result:
                    raise SystemExit(f"{model}/{runtime} repeat {i}: {result['error']}")
                repeats.append(result)
                med = result["medians_ns"]
                print(f"{model:13s} {runtime:18s} repeat {i}: testbed {med['testbed'] / 1e6:.4f} ms, "
                      f"bare {med['bare'] / 1e6:.4f} ms, ratio {med['testbed'] / med['bare']:.3f} "
                      f"(load {result['loadavg_before'][0]:.1f})", flush=True)
            run["raw"][f"{model}/{runtime}"] = repeats
            run["summary"][f"{model}/{runtime}"] = summarize(repeats)
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
