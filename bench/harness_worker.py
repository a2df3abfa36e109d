"""The worker of ``bench/run.py``: one repeat of one (model, runtime), in a fresh process
(``run.py --worker SPEC``), measuring both sides on the same artifact:

* **testbed**: the agent's own worker code, ``testbed_agent.measure.measure(request)`` - the
  runtime's Session, the timed loop with its per-iteration clock, run control, GC off. Its
  ``samples_ns`` are what a deploy stores.
* **bare**: the minimal loop a user would write with the runtime's own API on the same artifact, the
  same thread count and the same inputs (every input of the model, read from the same inputs .npz with
  ``testbed_agent.arrays.load_inputs``): LiteRT ``set_tensor`` per input, ``invoke()``, ``get_tensor``
  per output; ONNX Runtime ``run(None, feed)`` (one feed dict of every input, made once); ExecuTorch
  ``method.execute([...])`` (the input tensors made once); native ``Module::forward()`` in C++
  (``bench/bare_et.cpp``, every input given as ``--input/--input-dtype/--input-shape``). Each call
  timed with ``perf_counter_ns`` (``steady_clock`` in C++); GC off like the harness.

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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from testbed_agent.arrays import Inputs


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


def _et_python(path: str, xs: list[np.ndarray], threads: int | None) -> Callable[[], Any]:
    """``method.execute([tensors])`` on the ExecuTorch Python runtime, the tensors made once (fed by
    position: a .pte keeps no input names; the .npz holds them in the model's order)."""
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads is not None:
        portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(path).load_method("forward")
    tensors = [torch.from_numpy(x) for x in xs]
    if len(tensors) == 1:  # as before: the list written in the call, as a user's loop does
        tensor = tensors[0]
        return lambda: method.execute([tensor])
    return lambda: method.execute(tensors)


def _by_name(inputs: Inputs, names: list[str]) -> list[np.ndarray]:
    """The timing arrays in a runtime's input order ``names``, matched as a user would: by name (a
    LiteRT tensor ``serving_default_<name>:0`` by ``<name>``), else by position."""
    short = [n.removeprefix("serving_default_").rsplit(":", 1)[0] for n in names]
    if sorted(short) == sorted(inputs.names):
        return [inputs.timing[inputs.names.index(n)] for n in short]
    if len(names) != len(inputs.names):
        raise ValueError(f"the model takes inputs {names}, the .npz holds {inputs.names}")
    return list(inputs.timing)


def _litert(path: str, inputs: Inputs, threads: int | None) -> dict[str, Callable[[], Any]]:
    """set_tensor per input, invoke, get_tensor per output (one input: no loop, as before)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads)
    interp.allocate_tensors()
    details = interp.get_input_details()
    xs = [np.ascontiguousarray(x, dtype=d["dtype"])
          for x, d in zip(_by_name(inputs, [str(d["name"]) for d in details]), details, strict=True)]
    pairs = [(d["index"], x) for d, x in zip(details, xs, strict=True)]
    outputs = [d["index"] for d in interp.get_output_details()]
    if len(pairs) == 1:
        index, x = pairs[0]

        def full() -> Any:
            interp.set_tensor(index, x)
            interp.invoke()
            return [interp.get_tensor(i) for i in outputs]
    else:
        def full() -> Any:
            for index, x in pairs:
                interp.set_tensor(index, x)
            interp.invoke()
            return [interp.get_tensor(i) for i in outputs]

    for index, x in pairs:
        interp.set_tensor(index, x)
    return {"bare": full, "invoke_only": interp.invoke}


class Bare:
    """The bare loop of one runtime: ``block(n, warmup) -> (per-call ns, block ns)``."""

    def __init__(self, runtime: str, path: str, inputs: Inputs, threads: int | None,
                 bare_binary: str | None) -> None:
        self.variants: dict[str, Callable[[], Any]] = {}
        self.native: list[str] | None = None
        if runtime == "litert":
            self.variants = _litert(path, inputs, threads)
        elif runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
            names = [i.name for i in session.get_inputs()]
            feed = dict(zip(names, _by_name(inputs, names), strict=True))
            self.variants = {"bare": lambda: session.run(None, feed)}
        elif runtime == "executorch":
            self.variants = {"bare": _et_python(path, inputs.timing, threads)}
        elif runtime == "executorch-native":
            assert bare_binary is not None
            # the same .pte through the Python bindings, interleaved with the C++ loop: the
            # bindings' cost per call, measured in the same time window
            self.variants = {"bindings": _et_python(path, inputs.timing, threads)}
            self._tmp = tempfile.TemporaryDirectory(prefix="bare-et-")
            self.native = [bare_binary, "--model", path]
            for i, x in enumerate(inputs.timing):
                file = os.path.join(self._tmp.name, f"x{i}.bin")
                np.ascontiguousarray(x).tofile(file)
                self.native += ["--input", file, "--input-dtype", x.dtype.name,
                                "--input-shape", ",".join(str(d) for d in x.shape)]
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
    from testbed_agent.arrays import load_inputs
    from testbed_agent.measure import measure
    from testbed_agent.schema import tensors_from_wire

    # every timing input, as the agent reads them (the request's tensor specs, as a deploy sends)
    inputs = load_inputs(spec["inputs"], tensors_from_wire(spec.get("tensors"), "inputs"))
    n, blocks, warmup = spec["n"], spec["blocks"], spec["warmup"]
    bare = Bare(spec["runtime"], spec["artifact"], inputs, spec["threads"], spec.get("bare_binary"))
    request = {"runtime": spec["runtime"], "artifact_path": spec["artifact"],
               "inputs_path": spec["inputs"], "inputs": spec.get("tensors"), "threads": spec["threads"],
               "warmup": warmup, "iterations": n, "return_outputs": False}
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
