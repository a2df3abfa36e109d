"""`testbed report RUN --junit FILE`: every testcase carries the seconds its cell took, numbers are
rounded to their unit (no ``63.80500000000001``), and the file is JUnit XML a CI reads: it parses, and
its elements carry only the attributes the JUnit schema (Jenkins' junit-10.xsd) knows, times as plain
decimals."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from testbed import records
from testbed.paths import repo_root
from testbed.report import junit
from testbed.report.export import RunData, load_run
from testbed.store import Store

# junit-10.xsd: the attributes each element may carry (required ones first in each tuple)
SCHEMA = {
    "testsuite": ({"name", "tests"}, {"name", "tests", "failures", "errors", "skipped", "time", "timestamp",
                                      "hostname", "id", "package", "disabled"}),
    "testcase": ({"name"}, {"name", "classname", "time", "assertions", "status"}),
    "failure": (set(), {"message", "type"}),
    "error": (set(), {"message", "type"}),
    "skipped": (set(), {"message"}),
    "property": ({"name", "value"}, {"name", "value"}),
    "properties": (set(), set()),
    "system-out": (set(), set()),
    "system-err": (set(), set()),
}
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")  # xs:decimal as JUnit readers parse it: no exponent


def _row(**kw: object) -> dict:
    row = {"device": "pi4", "model": "digits_cnn", "converter": "onnx-torch-fp32", "threads": 1, "state": "done",
           "verdict": "unchanged", "verdict_reason": None, "error": None, "p50_ms": 0.12345678,
           "baseline_p50_ms": 0.1230000001, "latency_change_pct": 0.367000000001, "latency_ci_low_pct": -1.23456,
           "latency_ci_high_pct": 2.0000000004, "size_bytes": 123456, "peak_rss_mb": 63.80500000000001,
           "accuracy": 0.9722222222222222, "energy_mj_per_inference": 1.0000004, "wall_s": 12.3456789}
    return row | kw


def _data(rows: list[dict]) -> RunData:
    run = SimpleNamespace(id="20260101-000000-aaaa", plan_name="nightly", created_at=datetime(2026, 1, 1),
                          host="ci-host", baseline_id="20251231-000000-bbbb", status="done")
    return RunData(run=run, boards=[], rows=rows, samples_ms={})


def check_schema(root: ET.Element) -> None:
    for element in root.iter():
        required, allowed = SCHEMA[element.tag]
        assert required <= set(element.attrib) <= allowed, (element.tag, element.attrib)
        if "time" in element.attrib:
            assert DECIMAL.match(element.attrib["time"]), element.attrib["time"]
    for count in ("tests", "failures", "errors", "skipped"):
        assert root.get(count, "0").isdigit()


def test_testcases_carry_their_time_and_rounded_numbers(tmp_path: Path) -> None:
    rows = [_row(), _row(converter="tflite-keras-int8-static", state="failed", error="conversion failed: boom",
                         verdict=None, wall_s=0.25, peak_rss_mb=None, accuracy=None),
            _row(converter="executorch-torch-fp32", state="skipped", error="board busy", verdict=None, wall_s=None,
                 p50_ms=None),
            _row(converter="onnx-torch-int8-dynamic", verdict="regressed", verdict_reason="p50 +12 %", wall_s=3e-05)]
    path = tmp_path / "junit.xml"
    junit.write(_data(rows), path)
    root = ET.parse(path).getroot()
    check_schema(root)
    cases = root.findall("testcase")
    assert [c.get("time") for c in cases] == ["12.346", "0.250", "0.000", "0.000"]
    assert root.get("time") == "12.596"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == ("4", "2", "1", "0")
    out = cases[0].findtext("system-out") or ""
    for expected in ("p50_ms=0.1235", "baseline_p50_ms=0.123", "change_pct=0.37", "ci_pct=[-1.23, 2]",
                     "size_bytes=123456", "peak_rss_mb=63.8", "accuracy=0.9722", "energy_mj=1", "wall_s=12.346"):
        assert expected in out.splitlines(), (expected, out)
    assert "peak_rss_mb=None" in (cases[1].findtext("system-out") or "")
    every_number = re.findall(r"=\[?(-?[\d.e+-]+)", "".join(c.findtext("system-out") or "" for c in cases))
    assert all(len(n.partition(".")[2]) <= 4 and "e" not in n for n in every_number), every_number  # 4: 0.1235


@pytest.mark.parametrize(("value", "unit", "text"), [
    (63.80500000000001, "mb", "63.8"), (0.1, "ms", "0.1"), (2.0, "pct", "2"), (-0.0001, "pct", "0"),
    (0.024681234, "ms", "0.02468"), (12.3456789, "ms", "12.346"), (0.0, "ms", "0"), (0.00012346, "mj", "0.0001235"),
    (1234567.891, "ms", "1234567.891"), (None, "ms", "None"), (7, "ms", "7"), (float("nan"), "ms", "nan"),
    (0.97222, "accuracy", "0.9722"),
])
def test_numbers_are_rounded_to_their_unit(value: object, unit: str, text: str) -> None:
    assert junit.number(value, unit) == text


def test_a_stored_run_gives_each_cell_its_records_wall_time(tmp_path: Path) -> None:
    """From the store: a measured cell's time is its repeats' ``wall_s`` summed; a cell without records
    its start-to-end time; a cell never started 0."""
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    plan = yaml.safe_load((repo_root() / "plans" / "local-smoke.yaml").read_text())
    cells = [{"key": f"local/digits_cnn/{conv}/t1", "device": "local", "model": "digits_cnn", "converter": conv,
              "format": "onnx", "source": "pytorch", "quantization": "fp32", "runtime": "onnxruntime", "threads": 1,
              "repeats": 2} for conv in ("onnx-torch-fp32", "onnx-torch-fp16", "onnx-torch-int8-dynamic")]
    store.create_plan_run("20260101-000000-aaaa", "smoke", plan, "x", "h", "0", cells, ["local"])
    measured, failed, pending = store.plan_cells("20260101-000000-aaaa")
    art = SimpleNamespace(model="digits_cnn", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                          quantization="fp32", runtime="onnxruntime", status="ok", error=None, size_bytes=1000,
                          sha256="0" * 64, conversion_s=0.1, tool_versions={}, extra={})
    results = []
    for wall_s in (1.25, 2.5):
        record = records.base_record(art, "local", "dep")
        samples = [int(s) for s in np.random.default_rng(0).normal(1e6, 1e4, 100)]
        records.add_measurement(record, {"samples_ns": samples, "runner": "python", "threads": 1}, None, None)
        records.add_phases(record, {"transfer": 0.1}, wall_s)
        results.append((record, samples, []))
    dep = store.start_deployment("local", "digits_cnn", "0")
    store.start_cell(measured.id)
    store.finish_cell(measured.id, "done", None, dep, results)
    store.start_cell(failed.id)
    store.finish_cell(failed.id, "failed", "conversion failed", None, [])
    data = load_run(store, "20260101-000000-aaaa")
    walls = {r["converter"]: r["wall_s"] for r in data.rows}
    assert walls["onnx-torch-fp32"] == pytest.approx(3.75)
    assert walls["onnx-torch-fp16"] is not None and 0 <= walls["onnx-torch-fp16"] < timedelta(minutes=1).seconds
    assert walls["onnx-torch-int8-dynamic"] is None
    root = junit.build(data).getroot()
    check_schema(root)
    assert [c.get("time") for c in root.iter("testcase")][0] == "3.750"
    assert pending.state == "pending"
