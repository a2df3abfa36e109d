"""`testbed runs` (and `testbed run --list`): deploys and plan runs from the store, an empty store said so."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from testbed.cli import main
from testbed.store import Store


def _cell(run: str, device: str, model: str, converter: str) -> dict:
    return {"key": f"{device}/{model}/{converter}/tdefault", "device": device, "model": model, "converter": converter,
            "format": "onnx", "source": "pytorch", "quantization": "fp32", "runtime": "onnxruntime",
            "threads": None, "repeats": 1}


def test_empty_store_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    runs = CliRunner().invoke(main, ["runs", "--db", db])
    assert runs.exit_code == 0 and "no runs in" in runs.output and "testbed deploy" in runs.output
    listed = CliRunner().invoke(main, ["run", "--list", "--db", db])
    assert listed.exit_code == 0 and "no runs in" in listed.output and "testbed runs" in listed.output


def test_deploys_and_plan_runs_are_listed_with_their_cells(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    store = Store(db)
    store.create_plan_run("20260101-000000-aaaa", "deploy/pi4/digits_cnn", {}, "x", "h", "0", [
        _cell("a", "pi4", "digits_cnn", "onnx-torch-fp32"), _cell("a", "pi4", "digits_cnn", "tflite-keras-fp32")],
        ["pi4"], kind="deploy")
    store.create_plan_run("20260102-000000-bbbb", "nightly", {}, "x", "h", "0", [
        _cell("b", "pi4", "digits_cnn", "onnx-torch-fp32"), _cell("b", "jetson", "resnet18", "onnx-torch-fp32")],
        ["pi4", "jetson"], kind="plan")
    first = store.plan_cells("20260101-000000-aaaa")[0]
    store.finish_cell(first.id, "failed", "boom", None, [])
    store.finish_plan_run("20260101-000000-aaaa", "interrupted")
    old = store.start_deployment("local", "mobilenet_v2", "0")  # a deploy from before deploys were runs

    out = CliRunner().invoke(main, ["runs", "--db", db, "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["id"] for r in rows] == [old, "20260102-000000-bbbb", "20260101-000000-aaaa"]
    deploy = rows[2]
    assert deploy["kind"] == "deploy" and deploy["status"] == "interrupted"
    assert (deploy["done"], deploy["total"]) == (1, 2) and deploy["devices"] == ["pi4"]
    assert rows[1]["devices"] == ["jetson", "pi4"] and rows[1]["models"] == ["digits_cnn", "resnet18"]
    assert rows[0]["kind"] == "deploy (old)" and rows[0]["total"] is None

    table = CliRunner().invoke(main, ["runs", "--db", db])
    assert table.exit_code == 0 and "20260101-000000-aaaa" in table.output and "1/2" in table.output
