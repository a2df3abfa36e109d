"""The results of ``bench/run.py``: the statistics over a (model, runtime)'s repeats, the Markdown
summary, and the summary written into ``bench/README.md`` between its ``bench:harness`` markers.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- bench:harness:begin -->", "<!-- bench:harness:end -->"
TARGET = 1.02


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


def load_watch_summary(on: list[dict[str, Any]], off: list[dict[str, Any]]) -> dict[str, Any]:
    """The same (model, runtime) with the agent's load watch on and off: the ratio testbed/bare of
    each, testbed's median on/off, and what the sampler cost (CPU seconds per second watched)."""
    s_on, s_off = summarize(on), summarize(off)
    costs = [r["load"]["cost"] for r in on if (r.get("load") or {}).get("available")]
    others = [r["load"]["other_cpu_pct"]["mean"] for r in on if (r.get("load") or {}).get("available")]
    return {"ratio_median_on": s_on["ratio_median"], "ratio_median_off": s_off["ratio_median"],
            "testbed_p50_ms_on": s_on["testbed_p50_ms"], "testbed_p50_ms_off": s_off["testbed_p50_ms"],
            "testbed_on_over_off": s_on["testbed_p50_ms"] / s_off["testbed_p50_ms"],
            "sampler_cpu_pct": statistics.median(c["sampler_cpu_pct"] for c in costs) if costs else None,
            "sampling_cpu_pct": statistics.median(c["sampling_cpu_pct"] for c in costs) if costs else None,
            "per_sample_ms": statistics.median(c["per_sample_ms"] for c in costs) if costs else None,
            "scans_cpu_s": statistics.median(c["scans_cpu_s"] for c in costs) if costs else None,
            "other_cpu_pct_mean": statistics.median(others) if others else None}


def load_watch_markdown(run: dict[str, Any]) -> list[str]:
    """The on/off table (``--load-watch both``); nothing otherwise."""
    if not run.get("load_watch"):
        return []
    lines = ["", "The agent's load watch (`testbed_agent.loadwatch`, 2 Hz from /proc, in the agent process) "
             "on each repeat's worker, every repeat run without and with it (alternating which first):", "",
             "| model | runtime | ratio, watch off | ratio, watch on | testbed p50 on/off | sampler CPU, % of "
             "one CPU (periodic part) | ms per sample | start+end scans (ms) | others' CPU (%) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, s in run["load_watch"].items():
        model, runtime = key.split("/")
        lines.append(f"| {model} | {runtime} | {s['ratio_median_off']:.3f} | {s['ratio_median_on']:.3f} | "
                     f"{s['testbed_on_over_off']:.3f} | {_num(s['sampler_cpu_pct'], '.3f')} "
                     f"({_num(s['sampling_cpu_pct'], '.3f')}) | {_num(s['per_sample_ms'], '.3f')} | "
                     f"{_num(None if s['scans_cpu_s'] is None else s['scans_cpu_s'] * 1e3, '.1f')} | "
                     f"{_num(s['other_cpu_pct_mean'], '.0f')} |")
    return lines


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


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
    lines += load_watch_markdown(run)
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
