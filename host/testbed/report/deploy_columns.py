"""The columns of the deploy table: what each shows, its header with units, which are shown by default.

A deploy record holds more than fits on one terminal line, so the table shows a default set
(``DEFAULT``) that fits 120 columns, ``--columns a,b,c`` picks others by name and ``--wide`` shows
them all. A column's header is a list of parts (name, unit, caveat): printed on one line when the
table fits, stacked one part per line when it does not - the unit and a caveat such as ``est.``
are header lines of their own, so they are never what a narrow terminal cuts off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from rich.markup import escape

from ..errors import ConfigError


@dataclass(frozen=True)
class Column:
    key: str  # the name --columns takes
    parts: Callable[[list[dict]], list[str]]  # the header's parts for these rows: name, unit, caveat
    cell: Callable[[dict], str]  # the cell of one measured record (rich markup)
    justify: Literal["left", "right"] = "right"
    blank: str = "–"  # a cell that says nothing: the default table leaves out a column of only these

    def cells(self, rows: list[dict]) -> list[str]:
        return [self.cell(r) for r in rows]


@dataclass(frozen=True)
class PowerColumn(Column):
    """A power figure: its header says ``est.`` when any figure is an estimate (the power note below the
    table says what the estimate is), so the caveat cannot fall off with a cell; the cells repeat it
    only where the column mixes estimates with measurements."""

    def cells(self, rows: list[dict]) -> list[str]:
        marks = [estimated(r.get("power")) for r in rows]
        figures = [r for r in rows if (r.get("power") or {}).get("active_w") is not None]
        mixed = any(marks) and not all(estimated(r.get("power")) for r in figures)
        return [self.cell(r) + (" est." if mixed and mark else "") for r, mark in zip(rows, marks, strict=True)]


def fmt_num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def fixed(*parts: str) -> Callable[[list[dict]], list[str]]:
    return lambda rows: list(parts)


def status_cell(r: dict) -> str:
    if r["status"] != "ok":
        return "[red]failed[/]"
    if (r.get("thermal") or {}).get("throttled"):
        return "[yellow]throttled[/]"  # measured, but the board throttled (see the notes)
    return "[green]ok[/]"


def target_cell(r: dict) -> str:
    """yes / NO against the CI target; MLPerf's VALID / INVALID under that preset; – without one."""
    m = r.get("measurement") if r["status"] == "ok" else None
    if not m:
        return "–"
    if m.get("mlperf"):
        valid = m["mlperf"]["result"] == "VALID"
        return "[green]VALID[/]" if valid else "[red]INVALID[/]"
    if m.get("target_met") is None:
        return "–"
    return "[green]yes[/]" if m["target_met"] else "[red]NO[/]"


def agreement_cell(r: dict) -> str:
    """The worst output's agreement with the source (``parity``): top-1 % for logits, the lowest
    cosine similarity for embeddings (and the share of sample-pair similarity orderings kept), the
    lowest IoU for boxes; the output's name when the model has
    several (the JSON has them all: ``parity_outputs``)."""
    par = r.get("parity") or {}
    if par.get("cosine_min") is not None:  # and whether the pairs' similarity ranking holds
        rank = par.get("rank_agreement")
        cell = f"cos {par['cosine_min']:.4f}" + (f", rank {rank * 100:.0f} %" if rank is not None else "")
    elif par.get("iou_min") is not None:
        cell = f"IoU {par['iou_min']:.3f}"
    elif par.get("top1_agreement") is not None:
        cell = f"{par['top1_agreement'] * 100:.1f} %"
    else:
        return "–"
    several = len(r.get("parity_outputs") or []) > 1
    return f"{cell} {escape(par['name'])}" if several and par.get("name") else cell


#: The trust verdicts (``testbed.trust``) and how the table shows them.
TRUST_STYLE = {"steady": "green", "noisy": "yellow", "throttled": "yellow", "contended": "yellow"}


def trust_cell(r: dict) -> str:
    """steady / noisy / throttled / contended (the notes under the table say why); – without a verdict."""
    verdict = (r.get("trust") or {}).get("verdict")
    if not verdict:
        return "–"
    return f"[{TRUST_STYLE.get(verdict, 'yellow')}]{escape(verdict)}[/]"


def gflops_cell(r: dict) -> str:
    """Achieved GFLOP/s: the FLOPs counted from the graph over the p50 latency (``testbed.roofline``)."""
    return fmt_num((r.get("roofline") or {}).get("achieved_gflops"), ".3g")


def peak_pct_cell(r: dict) -> str:
    """% of the board's measured peak, and C (compute-bound) or M (memory-bound) by the ridge point."""
    roof = r.get("roofline") or {}
    pct = roof.get("pct_of_peak")
    if pct is None:
        return "–"
    bound = {"compute": " C", "memory": " M"}.get(roof.get("bound") or "", "")
    return f"{pct:.2g}{bound}" if pct < 10 else f"{pct:.0f}{bound}"


def estimated(power: dict | None) -> bool:
    return bool(power and power.get("active_w") is not None and power.get("estimated"))


def power_parts(name: str, unit: str) -> Callable[[list[dict]], list[str]]:
    def parts(rows: list[dict]) -> list[str]:
        return [name, unit, "est."] if any(estimated(r.get("power")) for r in rows) else [name, unit]
    return parts


def power_cell(key: str, fmt: str) -> Callable[[dict], str]:
    """Active watts or net energy per inference (``PowerColumn`` marks the estimates)."""
    def cell(r: dict) -> str:
        power = r.get("power")
        if not power or power.get("active_w") is None:
            return "–"
        value = power.get(key)
        if value is not None and abs(value) < 5e-7:
            value = 0.0  # float rounding of an idle-equals-active difference, not a figure
        return fmt_num(value, fmt)
    return cell


def _lat(key: str, fmt: str) -> Callable[[dict], str]:
    return lambda r: fmt_num((r.get("latency_ms") or {}).get(key), fmt)


#: Every column, in the order the table shows them (``--wide``: all of them).
COLUMNS: list[Column] = [
    Column("variant", fixed("Variant"), lambda r: r["converter"], "left"),
    Column("runtime", fixed("Runtime"), lambda r: r["runtime"], "left"),
    Column("status", fixed("Status"), status_cell, "left", blank="[green]ok[/]"),
    Column("size", fixed("Size", "(KB)"),
           lambda r: fmt_num(r["size_bytes"] / 1024 if r.get("size_bytes") else None, ".1f")),
    Column("load", fixed("Load", "(ms)"), lambda r: fmt_num(r.get("load_ms"), ".1f")),
    Column("p50", fixed("p50", "(ms)"), _lat("p50", ".3f")),
    Column("ci", fixed("±CI", "(%)"), _lat("ci_pct", ".2f")),
    Column("target", fixed("Target", "met"), target_cell, "left"),
    Column("trust", fixed("Trust"), trust_cell, "left"),
    Column("p90", fixed("p90", "(ms)"), _lat("p90", ".3f")),
    Column("p99", fixed("p99", "(ms)"), _lat("p99", ".3f")),
    Column("n", fixed("n"), lambda r: str((r.get("latency_ms") or {}).get("n") or "–")),
    Column("model-mem", fixed("Model", "mem", "(MB)"), lambda r: fmt_num(r.get("model_memory_mb"), ".1f")),
    Column("peak-rss", fixed("Peak", "RSS", "(MB)"), lambda r: fmt_num(r.get("peak_rss_mb"), ".0f")),
    Column("accuracy", fixed("Accuracy", "(%)"),
           lambda r: fmt_num(r["accuracy"] * 100 if r.get("accuracy") is not None else None, ".1f")),
    Column("parity", fixed("Parity", "|Δ|"), lambda r: fmt_num((r.get("parity") or {}).get("max_abs_err"), ".1e")),
    Column("agreement", fixed("Agreement"), agreement_cell),
    Column("gflops", fixed("GFLOP/s"), gflops_cell),
    Column("peak-pct", fixed("% of", "peak"), peak_pct_cell),
    PowerColumn("power", power_parts("Power", "(W)"), power_cell("active_w", ".2f")),
    PowerColumn("energy", power_parts("Energy", "(mJ/inf)"), power_cell("energy_mj_per_inference", ".3g")),
    Column("cached", fixed("Cached"), lambda r: "yes" if r.get("cached") else "no", "left"),
]

BY_KEY = {c.key: c for c in COLUMNS}

#: What `testbed deploy` shows without --columns/--wide: fits 120 terminal columns for every variant
#: of the zoo's models. Listed by priority: on a narrower terminal the last ones give way first.
DEFAULT = ["variant", "runtime", "p50", "ci", "trust", "status", "p99", "agreement", "peak-pct", "gflops",
           "accuracy", "size", "load", "model-mem", "energy"]

#: The first CORE default columns are always shown; the others when the terminal has room for them.
CORE = 3

#: Default columns left out when they say nothing for any variant (the notes under the table say
#: why): status when every variant is plainly ok (failures are listed under the table), energy when
#: power was not sampled, accuracy for a model without labelled data, trust and the roofline for records
#: from before them (record v8).
QUIET_WHEN_BLANK = ("status", "energy", "accuracy", "trust", "gflops", "peak-pct")


def names(keys: Iterable[str] = BY_KEY) -> str:
    """The column names, in table order: all of them, or those of ``keys``."""
    return ", ".join(k for k in BY_KEY if k in set(keys))


def select(spec: str | None = None, wide: bool = False) -> list[Column] | None:
    """The columns ``--columns`` names, in its order and after the variant (a row needs its name); all
    of them for ``--wide``; None: the default set, which the renderer fits to the terminal. An unknown
    name is a one-line :class:`ConfigError`, raised before anything is measured."""
    if wide:
        return list(COLUMNS)
    if not spec:
        return None
    keys = list(dict.fromkeys(k.strip().lower() for k in spec.split(",") if k.strip()))
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ConfigError(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                          f"in --columns; known: {names()}")
    return [BY_KEY[k] for k in ["variant", *(k for k in keys if k != "variant")]]


def default_columns(rows: list[dict]) -> list[Column]:
    """The default set for these rows, in table order, without those of ``QUIET_WHEN_BLANK`` that
    have nothing to say."""
    keep = {k for k in DEFAULT
            if k not in QUIET_WHEN_BLANK or any(cell != BY_KEY[k].blank for cell in BY_KEY[k].cells(rows))}
    return [c for c in COLUMNS if c.key in keep]
