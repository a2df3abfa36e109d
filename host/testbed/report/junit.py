"""`testbed report RUN --junit FILE`: JUnit XML for CI. One testcase per cell (classname
``<plan>.<board>``, name ``<model>/<variant>/t<threads>``): a failure is a regression (or a cell that
broke since the baseline) or a failed cell or one in error; a skipped cell is skipped with its reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..verdicts import COUNTS_AS_REGRESSION
from .export import RunData


def _name(r: dict) -> str:
    return f"{r['model']}/{r['converter']}/t{r['threads'] if r.get('threads') else 'default'}"


def build(data: RunData) -> ET.ElementTree:
    run = data.run
    suite = ET.Element("testsuite", name=f"testbed.{run.plan_name}", timestamp=run.created_at.isoformat(),
                       hostname=run.host or "")
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", run.id), ("baseline", run.baseline_id or ""), ("status", run.status)):
        ET.SubElement(props, "property", name=key, value=str(value))
    failures = skipped = errors = 0
    for r in data.rows:
        case = ET.SubElement(suite, "testcase", classname=f"{run.plan_name}.{r['device']}", name=_name(r))
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
        out = [f"state={r['state']} verdict={verdict}", f"p50_ms={r.get('p50_ms')}",
               f"baseline_p50_ms={r.get('baseline_p50_ms')}", f"change_pct={r.get('latency_change_pct')}",
               f"ci_pct=[{r.get('latency_ci_low_pct')}, {r.get('latency_ci_high_pct')}]",
               f"size_bytes={r.get('size_bytes')}", f"peak_rss_mb={r.get('peak_rss_mb')}",
               f"accuracy={r.get('accuracy')}", f"energy_mj={r.get('energy_mj_per_inference')}", detail]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    suite.set("tests", str(len(data.rows)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    return tree


def write(data: RunData, path: Path) -> None:
    build(data).write(path, encoding="utf-8", xml_declaration=True)
