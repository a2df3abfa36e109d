"""Per-op profiles on the host: normalize what the agent sent, reconcile with latency, render.

The agent's worker takes the profile in a separate pass after the timed runs
(``testbed_agent.opprofile``) and sends either a parsed ONNX Runtime trace or a raw ETDump. Here
both become one table (``normalize``)::

    {"source", "available", "reason", "runner", "runs",
     "e2e_ms": mean per profiled run of the runtime's own end-to-end event,
     "e2e_median_ms", "e2e_event": "model_run" | "Method::execute",
     "ops": [{"name", "op_type", "calls_per_run", "ms_per_run", "delegated", "backend"}],
     "wrappers_ms": {event: ms per run}   # ExecuTorch's OPERATOR_CALL / DELEGATE_CALL spans
     "notes": [...]}

and ``reconcile`` accounts for every millisecond of the profiled end-to-end time: the ops, then
an explicit **unaccounted** share (runtime work outside any op event: dispatch, delegate
boundaries, memory planning, thread wake-ups), never hidden. The timed runs' median (from the
latency samples, no profiler attached) is shown beside it with the profiler's overhead.

ETDumps are parsed with ``executorch.devtools.Inspector`` (needs torch: host only), without an
ETRecord: event names are the runtime's (``native_call_convolution.out``, XNNPACK's
``Convolution (NHWC, F32) IGEMM #3``), not the PyTorch module path.
"""

from __future__ import annotations

import base64
import re
import statistics
from collections.abc import Iterable
from typing import Any

#: ExecuTorch events that wrap others (their time is split between ops and "unaccounted").
ET_E2E = "Method::execute"
ET_WRAPPERS = ("OPERATOR_CALL", "DELEGATE_CALL")
_NATIVE_CALL = re.compile(r"^native_call_(.+?)(\.[A-Za-z_]+)?$")
_NUMBERED = re.compile(r"\s*#\d+$")


def normalize(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The common op table from the agent's ``ops`` block (None when no profile was asked for)."""
    if not raw:
        return None
    if not raw.get("available"):
        return {"source": raw.get("source", "none"), "available": False,
                "reason": raw.get("reason") or "not available", "ops": []}
    source = raw.get("source")
    try:
        if source == "onnxruntime-profiler":
            return _from_ort(raw)
        if source == "etdump":
            return from_etdump(base64.b64decode(raw["etdump_b64"]), runs=int(raw["runs"]),
                               warmup=int(raw.get("warmup", 0)), runner=raw.get("runner"))
    except Exception as exc:  # a corrupt or unexpected profile: say so, keep the run
        return {"source": source, "available": False, "ops": [],
                "reason": f"the {source} profile could not be parsed: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"}
    return {"source": source, "available": False, "ops": [],
            "reason": f"unknown profile source {source!r}"}


def _from_ort(raw: dict[str, Any]) -> dict[str, Any]:
    runs = max(int(raw.get("runs") or 0), 1)
    e2e_us = [float(v) for v in raw.get("e2e_us", [])]
    ops = [{"name": op["name"], "op_type": op.get("op_type") or "?",
            "calls_per_run": op["calls"] / runs, "ms_per_run": op["total_us"] / runs / 1e3,
            "delegated": None, "backend": op.get("provider")} for op in raw.get("ops", [])]
    return {"source": raw["source"], "available": True, "reason": None, "runner": "python",
            "runs": int(raw.get("runs") or 0), "warmup": raw.get("warmup"),
            "e2e_event": raw.get("e2e_event", "model_run"),
            "e2e_ms": statistics.fmean(e2e_us) / 1e3 if e2e_us else None,
            "e2e_median_ms": statistics.median(e2e_us) / 1e3 if e2e_us else None,
            "ops": ops, "wrappers_ms": {},
            "notes": ["ONNX Runtime trace: integer microseconds per node event"]}


def from_etdump(data: bytes, runs: int, warmup: int = 0, runner: str | None = None) -> dict[str, Any]:
    """The op table of an ETDump holding ``warmup`` + ``runs`` executions of ``forward``.

    Leaf events are ops: ``native_call_*`` (portable/optimized kernels) and the delegate's own
    per-op events (XNNPACK). ``OPERATOR_CALL``/``DELEGATE_CALL`` wrap them and
    ``Method::execute`` is the end-to-end span; per-event samples of the warm-up are dropped.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from executorch.devtools import Inspector

        inspector = Inspector(etdump_data=data)  # ns in the dump, ms out
    ops: list[dict[str, Any]] = []
    wrappers: dict[str, float] = {}
    e2e: list[float] = []
    counts: dict[str, int] = {}
    for block in inspector.event_blocks:
        if block.name == "Default":  # Program::load_method / Method::init: load, not inference
            continue
        for event in block.events:
            raw = list(event.perf_data.raw) if event.perf_data is not None else []
            kept = _steady(raw, runs, warmup)
            if not kept:
                continue
            name = event.name
            if name == ET_E2E:
                e2e.extend(kept)
                continue
            per_run = sum(kept) / runs
            if name in ET_WRAPPERS:
                wrappers[name] = wrappers.get(name, 0.0) + per_run
                continue
            op_type = _et_op_type(name)
            label = name
            if not event.is_delegated_op:  # portable kernels repeat one name per instruction
                counts[op_type] = counts.get(op_type, 0) + 1
                label = f"{op_type} #{counts[op_type]}"
            ops.append({"name": label, "op_type": op_type, "calls_per_run": len(kept) / runs,
                        "ms_per_run": per_run, "delegated": bool(event.is_delegated_op),
                        "backend": event.delegate_backend_name
                        or ("delegate" if event.is_delegated_op else "kernels")})
    notes = ["ETDump without an ETRecord: runtime event names, not PyTorch module paths"]
    if any(op["delegated"] for op in ops):
        notes.append("XNNPACK's per-op events have 1 us resolution (truncated): on tiny ops the "
                     "rounding lands in 'unaccounted'")
    if "DELEGATE_CALL" in wrappers:
        delegated = sum(op["ms_per_run"] for op in ops if op["delegated"])
        notes.append(f"DELEGATE_CALL {wrappers['DELEGATE_CALL']:.3f} ms/run, of which the "
                     f"delegate's own op events cover {delegated:.3f} ms")
    return {"source": "etdump", "available": True, "reason": None, "runner": runner,
            "runs": runs, "warmup": warmup, "e2e_event": ET_E2E,
            "e2e_ms": statistics.fmean(e2e) if e2e else None,
            "e2e_median_ms": statistics.median(e2e) if e2e else None,
            "ops": ops, "wrappers_ms": wrappers, "notes": notes}


def _steady(raw: list[float], runs: int, warmup: int) -> list[float]:
    """The samples of the profiled runs: drop the warm-up ones (per-event lists hold one sample
    per execution; an event seen fewer times than that keeps what is left after the warm-up)."""
    if len(raw) >= warmup + runs:
        return raw[warmup:warmup + runs]
    return raw[warmup:] if len(raw) > warmup else raw[-runs:]


def _et_op_type(name: str) -> str:
    found = _NATIVE_CALL.match(name)
    if found:
        return found.group(1)
    return _NUMBERED.sub("", name).strip() or name


def reconcile(table: dict[str, Any], timed_p50_ms: float | None = None, top: int = 15,
              by: str = "node") -> dict[str, Any]:
    """Top ops and their share of the profiled end-to-end time, the rest, and what is unaccounted.

    ``by``: ``node`` (each op as executed) or ``type`` (summed per op type). Shares are of the
    profiled end-to-end mean (``e2e_ms``); when the runtime gave none, of the op total.
    """
    if not table or not table.get("available"):
        return {"available": False, "reason": (table or {}).get("reason") or "no profile", "rows": []}
    ops = [dict(op) for op in table["ops"]]
    if by == "type":
        ops = _by_type(ops)
    elif by != "node":
        raise ValueError(f"by must be 'node' or 'type', not {by!r}")
    ops.sort(key=lambda op: op["ms_per_run"], reverse=True)
    ops_total = sum(op["ms_per_run"] for op in ops)
    e2e = table.get("e2e_ms")
    base = e2e if e2e else ops_total
    rows = []
    cumulative = 0.0
    for rank, op in enumerate(ops[:top], start=1):
        cumulative += op["ms_per_run"]
        rows.append({"rank": rank, "name": op["name"], "op_type": op["op_type"],
                     "calls_per_run": op.get("calls_per_run"), "ms_per_run": op["ms_per_run"],
                     "share": op["ms_per_run"] / base if base else None,
                     "cumulative": cumulative / base if base else None,
                     "backend": op.get("backend"), "nodes": op.get("nodes")})
    rest = ops[top:]
    rest_ms = sum(op["ms_per_run"] for op in rest)
    unaccounted = (e2e - ops_total) if e2e else None
    return {
        "available": True, "source": table["source"], "runner": table.get("runner"),
        "runs": table.get("runs"), "by": by, "rows": rows,
        "other": {"count": len(rest), "ms_per_run": rest_ms,
                  "share": rest_ms / base if base else None},
        "ops_total_ms": ops_total, "op_count": len(ops),
        "e2e_event": table.get("e2e_event"), "e2e_ms": e2e,
        "e2e_median_ms": table.get("e2e_median_ms"),
        "unaccounted_ms": unaccounted,
        "unaccounted_share": unaccounted / e2e if unaccounted is not None and e2e else None,
        "timed_p50_ms": timed_p50_ms,
        "profiled_vs_timed": (table["e2e_median_ms"] / timed_p50_ms
                              if timed_p50_ms and table.get("e2e_median_ms") else None),
        "wrappers_ms": table.get("wrappers_ms") or {},
        "notes": list(table.get("notes") or []),
    }


def _by_type(ops: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for op in ops:
        entry = grouped.setdefault(op["op_type"], {"name": op["op_type"], "op_type": op["op_type"],
                                                   "calls_per_run": 0.0, "ms_per_run": 0.0,
                                                   "backend": op.get("backend"), "nodes": 0})
        entry["calls_per_run"] += op.get("calls_per_run") or 0.0
        entry["ms_per_run"] += op["ms_per_run"]
        entry["nodes"] += 1
    return list(grouped.values())


def summary(table: dict[str, Any] | None, timed_p50_ms: float | None) -> dict[str, Any] | None:
    """The small block a result record carries (the full table is stored beside it)."""
    if table is None:
        return None
    if not table.get("available"):
        return {"source": table.get("source"), "available": False, "reason": table.get("reason")}
    rec = reconcile(table, timed_p50_ms, top=3)
    return {"source": rec["source"], "available": True, "runner": rec["runner"], "runs": rec["runs"],
            "op_count": rec["op_count"], "ops_total_ms": _round(rec["ops_total_ms"]),
            "e2e_ms": _round(rec["e2e_ms"]), "unaccounted_share": _round(rec["unaccounted_share"]),
            "top": [{"name": r["name"], "ms_per_run": _round(r["ms_per_run"]),
                     "share": _round(r["share"])} for r in rec["rows"]]}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def render(rec: dict[str, Any], title: str, console: Any) -> None:
    """The reconciled table with rich: top ops, the others, unaccounted, the end-to-end total."""
    from rich.table import Table

    if not rec.get("available"):
        console.print(f"[bold]{title}[/]\n  no per-op profile: {rec.get('reason')}")
        return
    table = Table(title=title, title_justify="left", show_footer=False)
    base = rec["e2e_ms"] or rec["ops_total_ms"] or 0.0
    ms = "{:.4f}" if base < 1 else "{:.3f}"
    for header, justify in (("#", "right"), ("op" if rec["by"] == "node" else "op type", "left"),
                            ("type" if rec["by"] == "node" else "nodes", "left"),
                            ("calls/run", "right"), ("ms/run", "right"), ("share", "right"),
                            ("cum.", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in rec["rows"]:
        table.add_row(str(row["rank"]), row["name"],
                      row["op_type"] if rec["by"] == "node" else str(row.get("nodes") or ""),
                      _fmt(row["calls_per_run"], "{:.0f}"), ms.format(row["ms_per_run"]),
                      _pct(row["share"]), _pct(row["cumulative"]))
    other = rec["other"]
    if other["count"]:
        table.add_row("", f"other ops ({other['count']})", "", "", ms.format(other["ms_per_run"]),
                      _pct(other["share"]), "")
    if rec["unaccounted_ms"] is not None:
        table.add_row("", "[bold]unaccounted[/] (outside op events)", "", "",
                      ms.format(rec["unaccounted_ms"]), _pct(rec["unaccounted_share"]), "",
                      style="yellow")
        table.add_row("", f"[bold]end to end[/] ({rec['e2e_event']}, mean)", "", "",
                      ms.format(rec["e2e_ms"]), "100.0%", "", end_section=True)
    console.print(table)
    lines = [f"  {rec['op_count']} ops, {rec['ops_total_ms']:.3f} ms/run in op events; "
             f"profiled {rec['runs']} runs ({rec['source']}, {rec.get('runner') or '?'} runner)"]
    if rec["timed_p50_ms"] is not None and rec["profiled_vs_timed"] is not None:
        lines.append(f"  timed runs p50 {rec['timed_p50_ms']:.3f} ms (no profiler); profiled "
                     f"{rec['e2e_event']} median {rec['e2e_median_ms']:.3f} ms = "
                     f"{rec['profiled_vs_timed']:.2f}x of it (the profiled pass is separate)")
    for name, ms in rec["wrappers_ms"].items():
        lines.append(f"  {name}: {ms:.3f} ms/run")
    lines += [f"  note: {n}" for n in rec["notes"]]
    console.print("\n".join(lines), highlight=False)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else spec.format(value)
