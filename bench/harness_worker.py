"""The worker of ``bench/run.py``: one repeat of one (model, runtime), in a fresh process
(``run.py --worker SPEC``), measuring both sides on the same artifact:

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
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np


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
