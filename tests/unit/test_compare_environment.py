"""`testbed compare` across runs measured differently: the cell is ``incomparable`` and the line says
what differs (here the runtime's version), instead of a silent regression."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml
from click.testing import CliRunner

from testbed import records
from testbed.cli import main
from testbed.paths import repo_root
from testbed.store import Store

CELL = {"key": "local/digits_cnn/onnx-torch-fp32/t1", "device": "local", "model": "digits_cnn",
        "converter": "onnx-torch-fp32", "format": "onnx", "source": "pytorch", "quantization": "fp32",
        "runtime": "onnxruntime", "threads": 1, "repeats": 1}


def measured(store: Store, run_id: str, runtime_version: str, median_ms: float, seed: int) -> None:
    plan = yaml.safe_load((repo_root() / "plans" / "local-smoke.yaml").read_text())
    store.create_plan_run(run_id, "smoke", plan, "x", "h", "0", [CELL], ["local"])
    art = SimpleNamespace(model="digits_cnn", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                          quantization="fp32", runtime="onnxruntime", status="ok", error=None, size_bytes=1000,
                          sha256="0" * 64, conversion_s=0.1, tool_versions={"torch": "2.5.0"}, extra={})
    record = records.base_record(art, "local", run_id)
    rng = np.random.default_rng(seed)
    samples = [int(s) for s in np.exp(rng.normal(np.log(median_ms * 1e6), 0.03, 500))]
    records.add_measurement(record, {"samples_ns": samples, "runtime_version": runtime_version,
                                     "runner": "python", "threads": 1}, None, None)
    dep = store.start_deployment("local", "digits_cnn", "0")
    (cell,) = store.plan_cells(run_id)
    store.finish_cell(cell.id, "done", None, dep, [(record, samples, [])])
    store.finish_plan_run(run_id, "done")


def test_compare_says_the_runs_are_not_comparable(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    store = Store(db)
    measured(store, "20260101-000000-aaaa", "1.17.0", 1.0, 0)
    measured(store, "20260102-000000-bbbb", "1.18.0", 1.5, 1)  # slower, but on another runtime version
    out = CliRunner().invoke(main, ["compare", "20260101-000000-aaaa", "20260102-000000-bbbb", "--db", db, "--json"])
    assert out.exit_code == 0, out.output  # not a regression: not judged
    (cell,) = json.loads(out.output)["cells"]
    assert cell["verdict"] == "incomparable"
    assert cell["verdict_reason"].startswith(
        "not comparable, measured differently: runtime_version 1.17.0 -> 1.18.0 (the metrics would say regressed")
    table = CliRunner().invoke(main, ["compare", "20260101-000000-aaaa", "20260102-000000-bbbb", "--db", db])
    assert "incomparable" in table.output and "runtime_version 1.17.0 -> 1.18.0" in table.output
