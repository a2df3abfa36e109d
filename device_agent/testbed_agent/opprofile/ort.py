"""ONNX Runtime's built-in profiler: ``SessionOptions.enable_profiling`` and its JSON trace.

The trace is a Chrome-trace list of complete events (``"ph": "X"``, ``ts``/``dur`` in
microseconds): ``cat: "Session", name: "model_run"`` per ``run()`` and ``cat: "Node", name:
"<node>_kernel_time"`` per node executed, with ``args.op_name`` and ``args.provider``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

SOURCE = "onnxruntime-profiler"
KERNEL_SUFFIX = "_kernel_time"


def profile(path: str, xs: Sequence[np.ndarray], threads: int | None, runs: int, warmup: int,
            timed: Any = None) -> dict[str, Any]:
    """A fresh profiling session (the timed one is never profiled), ``warmup`` + ``runs`` runs.

    ``timed``: the timed ``InferenceSession``; its session options and providers are reused so
    the profiled graph is the measured one (same optimization level, threads, providers).
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="ort-profile-") as tmp:
        if timed is not None:
            options = timed.get_session_options()
            providers = timed.get_providers()
            provider_options = [timed.get_provider_options().get(p, {}) for p in providers]
        else:
            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            providers, provider_options = ["CPUExecutionProvider"], [{}]
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(path, sess_options=options, providers=providers,
                                       provider_options=provider_options)
        feed = {i.name: x for i, x in zip(session.get_inputs(), xs, strict=True)}
        for _ in range(warmup + runs):
            session.run(None, feed)
        trace_path = session.end_profiling()
        with open(trace_path, encoding="utf-8") as fh:
            trace = json.load(fh)
    result = parse_trace(trace, skip_runs=warmup)
    result["warmup"] = warmup
    return result


def parse_trace(trace: list[dict[str, Any]], skip_runs: int = 0) -> dict[str, Any]:
    """Per-node totals over the runs of ``trace`` after the first ``skip_runs`` (warm-up).

    Each node event is assigned to the ``model_run`` whose time span contains it.
    """
    events = [e for e in trace if isinstance(e, dict) and e.get("ph", "X") == "X"]
    model_runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                        key=lambda e: e["ts"])
    kept = model_runs[skip_runs:]
    spans = [(int(e["ts"]), int(e["ts"]) + int(e["dur"])) for e in kept]
    ops: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        ts = int(e["ts"])
        if not any(start <= ts <= end for start, end in spans):
            continue  # a warm-up run's node
        name = e["name"][: -len(KERNEL_SUFFIX)]
        args = e.get("args") or {}
        if name not in ops:
            order.append(name)
            ops[name] = {"name": name, "op_type": args.get("op_name") or "?", "calls": 0,
                         "total_us": 0.0, "provider": args.get("provider")}
        ops[name]["calls"] += 1
        ops[name]["total_us"] += float(e.get("dur", 0))
    return {"source": SOURCE, "available": True, "reason": None, "runs": len(kept),
            "time_unit": "us (integer resolution in the trace)",
            "e2e_us": [float(e["dur"]) for e in kept], "e2e_event": "model_run",
            "ops": [ops[name] for name in order]}
