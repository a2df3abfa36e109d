"""Parse the outputs of the native benchmark tools into one summary shape.

The tools print summaries, not raw per-inference samples, so records made from them carry
``latency_ms`` from the tool's own statistics and say so (``"samples": "tool summary only"``).

Every parser returns a dict with at least ``ok`` (bool) and, when not ok, ``error`` (the tool's own
first error line). Times are converted to milliseconds, memory to MB.
"""

from __future__ import annotations

import re

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _strip_prefix(line: str) -> str:
    """benchmark_model lines may carry an ``INFO: `` / logcat ``I tflite  : `` prefix."""
    return re.sub(r"^(?:INFO|WARNING|ERROR|[IWEF] tflite\s*):\s*", "", line.strip())


def _first_error(lines: list[str], markers: tuple[str, ...]) -> str:
    for line in lines:
        if line.strip().startswith(markers):
            return line.strip()
    return lines[-1].strip() if lines else "no output"


def parse_benchmark_model(text: str) -> dict:
    """LiteRT/TFLite ``benchmark_model``. The *last* ``count=`` line is the timed run (the first is
    warm-up); its ``avg``/``std``/``min``/``max`` are in microseconds."""
    lines = text.splitlines()
    out: dict = {"tool": "benchmark_model", "ok": False}
    runs = [m for m in (re.search(r"count=(\d+) first=(\d+) curr=\d+ min=(\d+) max=(\d+) "
                                  rf"avg={_NUM} std=(\d+)(?: p5=(\d+) median=(\d+) p95=(\d+))?",
                                  _strip_prefix(ln)) for ln in lines) if m]
    summary = next((m for m in (re.search(rf"Inference timings in us: Init: {_NUM}, First inference: "
                                          rf"{_NUM}, Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}",
                                          ln) for ln in lines) if m), None)
    us = lambda v: None if v is None else float(v) / 1000.0  # noqa: E731 - µs -> ms
    if summary is not None:
        load, first, warmup = summary.group(1), summary.group(2), summary.group(3)
    else:  # builds of 2019/2020: "Average inference timings in us: Warmup: W, Init: I, no stats: X"
        old = re.search(rf"Average inference timings in us: Warmup: {_NUM}, Init: {_NUM}, ", text)
        load, first, warmup = (old.group(2), None, old.group(1)) if old else (None, None, None)
    if not runs or load is None:
        out["error"] = _first_error(lines, ("ERROR", "E tflite"))
        return out
    timed = runs[-1]
    out.update(ok=True, n=int(timed.group(1)), load_ms=us(load),
               first_inference_ms=us(first), warmup_avg_ms=us(warmup),
               latency_ms={"mean": us(timed.group(5)), "std": us(timed.group(6)),
                           "min": us(timed.group(3)), "max": us(timed.group(4)),
                           "p50": us(timed.group(8)) if timed.group(8) else None,
                           "p5": us(timed.group(7)) if timed.group(7) else None,
                           "p95": us(timed.group(9)) if timed.group(9) else None,
                           "n": int(timed.group(1))})
    mem = re.search(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) "
                    rf"\(MB\): init={_NUM} overall={_NUM}", text)
    if mem:
        out["memory_mb"] = {"init": float(mem.group(1)), "overall": float(mem.group(2)),
                            "note": "the tool's own approximate figure"}
    size = re.search(rf"The input model file size \(MB\): {_NUM}", text)
    if size:
        out["model_size_mb"] = float(size.group(1))
    deleg = re.search(r"(\d+) nodes delegated out of (\d+) nodes", text)
    if deleg:
        out["delegated_nodes"], out["total_nodes"] = int(deleg.group(1)), int(deleg.group(2))
    return out


_ET_LOG = re.compile(r"^([IDEWF]) (\d+):(\d+):(\d+\.\d+) executorch:[^\]]*\] (.*)$")


def parse_executor_runner(text: str) -> dict:
    """ExecuTorch ``executor_runner``: load time from the ET_LOG timestamps (file loaded → method
    loaded), execution time as the tool's total over ``N`` executions (no per-run samples)."""
    lines = text.splitlines()
    out: dict = {"tool": "executor_runner", "ok": False}
    stamps: dict[str, float] = {}
    total = None
    for line in lines:
        m = _ET_LOG.match(line.strip())
        if not m:
            continue
        t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        msg = m.group(5)
        if msg.startswith("Model file") and "is loaded" in msg:
            stamps["file_loaded"] = t
        elif msg.startswith("Method loaded"):
            stamps["method_loaded"] = t
        run = (re.match(rf"Model executed successfully (\d+) time\(s\) in {_NUM} ms", msg)
               # backend runners (qnn_executor_runner, ...): "100 inference took 1096.6 ms, avg 10.97 ms"
               or re.match(rf"(\d+) inference took {_NUM} ms", msg))
        if run:
            total = (int(run.group(1)), float(run.group(2)))
        elif msg.startswith("Model executed successfully"):
            stamps["executed"] = t
    if total is None:
        if "executed" in stamps:  # runners before ExecuTorch 0.3 time nothing
            out["error"] = ("executor_runner ran the model but printed no timing (a build older than "
                            "ExecuTorch 0.3?): use one that prints 'Model executed successfully N time(s) in X ms'")
        else:
            out["error"] = _first_error(lines, ("E ", "F ", "Aborted"))
        return out
    n, total_ms = total
    out.update(ok=True, n=n, total_ms=total_ms,
               latency_ms={"mean": total_ms / n if n else None, "n": n})
    if {"file_loaded", "method_loaded"} <= stamps.keys():
        out["load_ms"] = (stamps["method_loaded"] - stamps["file_loaded"]) * 1000.0
    outputs = re.search(r"(\d+) outputs:", text)
    if outputs:
        out["outputs"] = int(outputs.group(1))
    return out


def parse_perf_test(text: str) -> dict:
    """``onnxruntime_perf_test`` (with ``-s`` for percentiles); latencies are printed in seconds.
    Labels changed across releases: ``Average inference time cost`` / ``Total inference requests``
    (older: ``Average time cost`` / ``Total iterations``), ``P50 Latency: X s`` (older: ``P50 Latency
    is X sec``); both are read."""
    out: dict = {"tool": "onnxruntime_perf_test", "ok": False}

    def find(*labels: str) -> float | None:
        for label in labels:
            m = re.search(rf"^{re.escape(label)}(?::| is)\s*{_NUM}", text, re.M)
            if m:
                return float(m.group(1))
        return None

    avg = find("Average inference time cost", "Average inference time cost total", "Average time cost")
    requests = find("Total inference requests", "Total iterations")
    if avg is None or requests is None:
        out["error"] = _first_error(text.splitlines(), ("Error", "[E:", "Failed"))
        return out
    s_to_ms = lambda v: None if v is None else v * 1000.0  # noqa: E731
    session = find("Session creation time cost")
    out.update(ok=True, n=int(requests), load_ms=s_to_ms(session),
               first_inference_ms=find("First inference time cost"),
               latency_ms={"mean": avg, "min": s_to_ms(find("Min Latency")),
                           "max": s_to_ms(find("Max Latency")), "p50": s_to_ms(find("P50 Latency")),
                           "p90": s_to_ms(find("P90 Latency")), "p95": s_to_ms(find("P95 Latency")),
                           "p99": s_to_ms(find("P99 Latency")), "p999": s_to_ms(find("P999 Latency")),
                           "n": int(requests)},
               cpu_percent=find("Avg CPU usage"))
    peak = find("Peak working set size")
    if peak is not None:
        out["peak_rss_mb"] = peak / (1024 * 1024)
    return out


PARSERS = {"benchmark_model": parse_benchmark_model, "executor_runner": parse_executor_runner,
           "onnxruntime_perf_test": parse_perf_test}
