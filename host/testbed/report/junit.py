"""`testbed report RUN --junit FILE`: JUnit XML for CI. One testcase per cell (classname
``<plan>.<board>``, name ``<model>/<variant>/t<threads>``, ``time`` the seconds the cell took): a
failure is a regression (or a cell that broke since the baseline) or a failed cell or one in error; a
skipped cell is skipped with its reason. The suite's ``time`` is the sum of its testcases'.

Numbers in the testcase's output are rounded to what their unit resolves (a microsecond of latency,
four digits of a shorter one; 0.1 MB of memory), never printed as binary floats
(``peak_rss_mb=63.80500000000001``); times are decimals with millisecond resolution, as the JUnit
schema's ``xs:decimal`` wants (no exponent).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from ..verdicts import COUNTS_AS_REGRESSION
from .export import RunData

#: Decimals per unit of the testcase's output: ms to the microsecond, percentages to 0.01, MB to 0.1,
#: mJ to the microjoule, accuracy to 0.01 %.
DECIMALS = {"ms": 3, "pct": 2, "mb": 1, "mj": 3, "accuracy": 4, "s": 3}
#: Units whose values can be far below 1 (a 20 µs inference): at least this many significant digits.
SIGNIFICANT = {"ms": 4, "mj": 4}


def number(value: object, unit: str) -> str:
    """``value`` rounded to ``DECIMALS[unit]`` places, or to ``SIGNIFICANT[unit]`` digits where that
    keeps more (0.02468 ms, not 0.025), trailing zeros dropped; ints, None, text and non-finite floats
    as they are."""
    if not isinstance(value, float) or not math.isfinite(value):
        return str(value)
    places = DECIMALS[unit]
    if unit in SIGNIFICANT and value:
        places = max(places, SIGNIFICANT[unit] - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{places}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def seconds(value: object) -> str:
    """A JUnit ``time``: seconds as a plain decimal with three places (0.000 when unknown)."""
    t = float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0
    return f"{max(t, 0.0):.3f}"


def _name(r: dict) -> str:
    return f"{r['model']}/{r['converter']}/t{r['threads'] if r.get('threads') else 'default'}"


def _output(r: dict, detail: str) -> str:
    """The testcase's ``system-out``: its state, verdict and figures, one ``key=value`` per line."""
    ci = f"[{number(r.get('latency_ci_low_pct'), 'pct')}, {number(r.get('latency_ci_high_pct'), 'pct')}]"
    return "\n".join([
        f"state={r['state']} verdict={r.get('verdict')}", f"p50_ms={number(r.get('p50_ms'), 'ms')}",
        f"baseline_p50_ms={number(r.get('baseline_p50_ms'), 'ms')}",
        f"change_pct={number(r.get('latency_change_pct'), 'pct')}", f"ci_pct={ci}",
        f"size_bytes={r.get('size_bytes')}", f"peak_rss_mb={number(r.get('peak_rss_mb'), 'mb')}",
        f"accuracy={number(r.get('accuracy'), 'accuracy')}",
        f"energy_mj={number(r.get('energy_mj_per_inference'), 'mj')}", f"wall_s={number(r.get('wall_s'), 's')}",
        detail])


def build(data: RunData) -> ET.ElementTree:
    run = data.run
    suite = ET.Element("testsuite", name=f"testbed.{run.plan_name}", timestamp=run.created_at.isoformat(),
                       hostname=run.host or "")
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", run.id), ("baseline", run.baseline_id or ""), ("status", run.status)):
        ET.SubElement(props, "property", name=key, value=str(value))
    failures = skipped = errors = 0
    total_s = 0.0
    for r in data.rows:
        case = ET.SubElement(suite, "testcase", classname=f"{run.plan_name}.{r['device']}", name=_name(r),
                             time=seconds(r.get("wall_s")))
        total_s += float(case.get("time") or 0)
        verdict = r.get("verdict")
        detail = r.get("verdict_reason") or r.get("error") or ""
        if verdict in COUNTS_AS_REGRESSION:
            failures += 1
            ET.SubElement(case, "failure", message=f"{verdict}: {detail}"[:500], type=verdict).text = detail
        elif r["state"] == "failed":
            failures += 1
            ET.SubElement(case, "failure", message=f"failed: {r.get('error') or ''}"[:500],
                          type="failed").text = r.get("error") or ""
        elif r["state"] == "error":
            errors += 1
            ET.SubElement(case, "error", message=(r.get("error") or "board fault")[:500], type="board")
        elif r["state"] in ("skipped", "pending", "running"):
            skipped += 1
            ET.SubElement(case, "skipped", message=(r.get("error") or f"not run ({r['state']})")[:500])
        ET.SubElement(case, "system-out").text = _output(r, detail)
    suite.set("tests", str(len(data.rows)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", seconds(total_s))
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    return tree


def write(data: RunData, path: Path) -> None:
    build(data).write(path, encoding="utf-8", xml_declaration=True)
