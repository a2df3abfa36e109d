"""The Python API (issue 15): ``testbed.results``/``testbed.runs`` on a SQLite store holding real stored
records (the golden files of older schemas, upgraded on read), ``to_pandas`` columns and dtypes, the
one-line errors, the options shared with the CLI, and an ``import testbed`` that loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import testbed
from testbed.cli import main
from testbed.deploy_options import deploy_options, model_reference
from testbed.errors import ConfigError, TestbedError
from testbed.run_results import COLUMNS, RunResults
from testbed.store import Store

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "records"
DEPLOY = "20260301-120000-d1d1"
PLAN = "20260302-020000-p2p2"


def golden(version: int, **changes: object) -> dict:
    return {**json.loads((GOLDEN / f"v{version}.json").read_text()), **changes}


def _cell(device: str, model: str, converter: str, fmt: str, runtime: str, threads: int | None = None,
          repeats: int = 1) -> dict:
    return {"key": f"{device}/{model}/{converter}/t{threads or 'default'}", "device": device, "model": model,
            "converter": converter, "format": fmt, "source": "keras", "quantization": "fp32", "runtime": runtime,
            "threads": threads, "repeats": repeats}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with a deploy of three variants (one measured: a v6 record and 120 raw samples; one whose
    conversion failed; one not measured yet: interrupted), a plan run of two boards with a repeated
    cell (v1 and v4 records), and a deploy stored before deploys were runs."""
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'results.db'}"
    store = Store(url)
    store.create_plan_run(DEPLOY, "deploy/pi4/digits_cnn", {}, "x", "h", "0", [
        _cell("pi4", "digits_cnn", "tflite_keras", "tflite", "litert"),
        _cell("pi4", "digits_cnn", "onnx-torch-fp32", "onnx", "onnxruntime"),
        _cell("pi4", "digits_cnn", "executorch-xnnpack-fp32", "executorch", "executorch")], ["pi4"], kind="deploy")
    ok, failed, _pending = store.plan_cells(DEPLOY)
    samples = [1_500_000 + 1000 * i for i in range(120)]
    store.finish_cell(ok.id, "done", None, "dep-2026-05-01-0005", [(golden(6), samples, [])])
    store.finish_cell(failed.id, "failed", "onnx export failed: Unsupported op\nTraceback ...", None, [])
    store.finish_plan_run(DEPLOY, "interrupted")

    store.create_plan_run(PLAN, "nightly", {}, "x", "h", "0", [
        _cell("pi4", "digits_cnn", "tflite_keras", "tflite", "litert", threads=4, repeats=2),
        _cell("jetson", "digits_cnn", "tflite_keras", "tflite", "litert", threads=4)], ["pi4", "jetson"])
    pi4, jetson = store.plan_cells(PLAN)
    store.finish_cell(pi4.id, "done", None, "dep-plan-pi4", [(golden(1), [1_520_000] * 20, []),
                                                             (golden(4), [1_530_000] * 20, [])])
    store.mark_cells([jetson.id], "skipped", "jetson: busy (another host holds the lease)")
    store.finish_plan_run(PLAN, "done")
    old = store.start_deployment("local", "mobilenet_v2", "0")
    store.add_result(old, golden(5, run_id=old, device="local", model="mobilenet_v2"), [900_000] * 30)
    return url


def test_import_testbed_loads_no_framework_engine_or_api() -> None:
    """`import testbed` (every CLI command does it) stays light; the API is loaded when first used and
    still loads no framework; ``testbed.deploy`` stays the function after its namesake module is imported."""
    code = ("import json, sys\nimport testbed\nfirst = set(sys.modules)\n"
            "testbed.results, testbed.runs, testbed.RunResults\napi = set(sys.modules)\n"
            "from testbed.deploy import DeployOptions\nimport testbed.deploy\n"
            "print(json.dumps({'first': sorted(first), 'api': sorted(api), 'callable': callable(testbed.deploy),"
            " 'name': testbed.deploy.__module__ + '.' + testbed.deploy.__name__}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    heavy = {"torch", "tensorflow", "keras", "executorch", "testbed.engine", "testbed.deploy", "pandas"}
    assert not heavy & set(seen["first"]) and "testbed.api" not in seen["first"]
    assert not heavy & set(seen["api"]) and "testbed.api" in seen["api"]
    assert seen["callable"] and seen["name"] == "testbed.api.deploy"


def test_results_reads_a_deploy_back_typed(db: str) -> None:
    r = testbed.results(DEPLOY, db=db)
    assert isinstance(r, RunResults)
    assert (r.run_id, r.kind, r.status, r.device, r.model) == (DEPLOY, "deploy", "interrupted", "pi4", "digits_cnn")
    assert [(v.variant, v.status) for v in r.rows] == [("tflite_keras", "ok"), ("onnx-torch-fp32", "failed")]
    assert r.unfinished == 1 and r.store_url == db
    ok = r.variant("tflite_keras")
    assert (ok.format, ok.runtime, ok.size_bytes, ok.p50_ms, ok.p99_ms, ok.ci_pct) == ("tflite", "litert", 98304,
                                                                                       1.52, None, 3.9)
    assert (ok.agreement, ok.agreement_metric, ok.accuracy, ok.energy_mj_per_inference, ok.power_w) == (
        1.0, "top1_agreement", 0.98, 2.1, 4.1)
    assert ok.record["schema_version"] == 8 and ok.trust is None and ok.record["parity_outputs"][0]["kind"] == "logits"
    assert ok.samples_ms().dtype == np.float64 and ok.samples_ms()[:2].tolist() == [1.5, 1.501]
    failed = r.variant("onnx-torch-fp32")
    assert failed.error.startswith("onnx export failed") and failed.p50_ms is None and failed.samples_ms().size == 0
    with pytest.raises(ConfigError, match="no variant 'nope' in run .*tflite_keras, onnx-torch-fp32"):
        r.variant("nope")


def test_results_of_a_plan_run_a_start_of_its_id_and_an_old_deployment(db: str) -> None:
    plan = testbed.results(PLAN[:10], db=db)  # an unambiguous start of the id
    assert plan.run_id == PLAN and plan.kind == "plan" and plan.devices == ["jetson", "pi4"]
    assert [(v.device, v.repeat, v.threads, v.status) for v in plan.rows] == [
        ("pi4", 0, 4, "ok"), ("pi4", 1, 4, "ok"), ("jetson", 0, 4, "skipped")]
    assert plan.rows[0].p99_ms is None  # v1's p99 of 20 samples: dropped by the v4 upgrade, not shown as figure
    assert plan.unfinished == 1  # the skipped cell stays resumable
    old = testbed.runs(db=db)[0]
    read = testbed.results(old.run_id, db=db)
    assert read.kind == "deployment" and read.model == "mobilenet_v2" and read.rows[0].p50_ms == 1.52


def test_unknown_and_ambiguous_runs_are_one_line_errors(db: str) -> None:
    with pytest.raises(ConfigError) as exc:
        testbed.results("19990101-nope", db=db)
    assert "\n" not in str(exc.value) and "`testbed runs`" in str(exc.value) and "19990101-nope" in str(exc.value)
    with pytest.raises(ConfigError, match="matches several runs"):
        testbed.results("2026030", db=db)


def test_runs_lists_deploys_plan_runs_and_old_deploys_newest_first(db: str) -> None:
    found = testbed.runs(db=db)
    assert [r.kind for r in found] == ["deploy (old)", "plan", "deploy"]
    plan = found[1]
    assert (plan.run_id, plan.devices, plan.models, plan.done, plan.total) == (PLAN, ["jetson", "pi4"],
                                                                              ["digits_cnn"], 1, 2)
    assert [r.run_id for r in testbed.runs(limit=1, db=db)] == [found[0].run_id]
    with pytest.raises(ConfigError, match="limit must be a whole number >= 1"):
        testbed.runs(limit=0, db=db)


def test_to_pandas_one_row_per_variant_units_in_names_typed(db: str) -> None:
    import pandas as pd

    frame = testbed.results(DEPLOY, db=db).to_pandas()
    assert list(frame.columns) == COLUMNS and len(frame) == 2
    for column in ("p50_ms", "p99_ms", "ci_pct", "load_ms", "model_memory_mb", "energy_mj_per_inference"):
        assert frame[column].dtype == np.float64, column
    for column in ("size_bytes", "n_samples", "threads"):
        assert frame[column].dtype == "Int64", column
    assert frame["target_met"].dtype == "boolean" and frame["cached"].dtype == bool
    assert pd.api.types.is_string_dtype(frame["variant"]) and pd.api.types.is_string_dtype(frame["error"])
    ok, failed = frame.iloc[0], frame.iloc[1]
    assert (ok["variant"], ok["p50_ms"], ok["size_bytes"], ok["n_samples"]) == ("tflite_keras", 1.52, 98304, 50)
    assert np.isnan(ok["p99_ms"]) and np.isnan(failed["p50_ms"]) and pd.isna(failed["size_bytes"])
    assert failed["status"] == "failed" and pd.isna(ok["error"])
    fastest = frame[frame.status == "ok"].sort_values("p50_ms").iloc[0]  # what a notebook does with it
    assert fastest["variant"] == "tflite_keras"
    empty = RunResults(run_id="r", kind="deploy", status="done", created_at=None, devices=[], models=[],
                       rows=[]).to_pandas()
    assert list(empty.columns) == COLUMNS and empty["p50_ms"].dtype == np.float64


def test_to_pandas_without_pandas_says_how_to_install_it(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    r = testbed.results(DEPLOY, db=db)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ConfigError, match=r"^RunResults.to_pandas\(\) needs pandas.*`pip install pandas`$"):
        r.to_pandas()
    assert "<pre>" in r._repr_html_()  # the notebook still shows the plain summary


def test_repr_is_short_and_says_what_failed_and_what_is_left(db: str) -> None:
    text = repr(testbed.results(DEPLOY, db=db))
    lines = text.splitlines()
    assert lines[0].startswith(f"RunResults: deploy {DEPLOY} of digits_cnn on pi4 (interrupted): 2 variant(s), 1 ok")
    assert any("tflite_keras" in line and "1.520" in line and "96.0" in line for line in lines)  # p50, KB
    assert any("onnx-torch-fp32" in line and "failed: onnx export failed: Unsupported op" in line for line in lines)
    assert "Traceback" not in text and f"testbed deploy --resume {DEPLOY}" in lines[-1] and len(lines) == 5
    page = testbed.results(DEPLOY, db=db)._repr_html_()
    assert page.startswith("<p>RunResults: deploy") and "<table" in page and "tflite_keras" in page


def test_options_are_built_as_the_cli_builds_them() -> None:
    """A comma string (the CLI's flags) and a list (a notebook's) give the same DeployOptions."""
    flags = deploy_options(formats="onnx, tflite", sources="keras", quantizations="fp32,int8-dynamic", threads=2)
    given = deploy_options(formats=["onnx", "tflite"], sources=("keras",), quantizations=["fp32", "int8-dynamic"],
                           threads=2)
    assert flags == given and flags.formats == ["onnx", "tflite"] and flags.preset is None
    assert deploy_options(formats="", sources=[]).formats is None  # nothing given: every format
    for bad, message in [({"threads": 0}, "threads must be a whole number >= 1, got 0"),
                         ({"warmup": -1}, "warmup must be a whole number >= 0"),
                         ({"iterations": 2.5}, "iterations must be a whole number >= 1"),
                         ({"timeout_s": 0}, "timeout_s must be a positive number of seconds"),
                         ({"formats": ["onnx", 3]}, "formats: give names, as a list")]:
        with pytest.raises(ConfigError, match=message):
            deploy_options(**bad)  # type: ignore[arg-type]
    assert model_reference("digits_cnn") == "digits_cnn"
    with pytest.raises(ConfigError, match="model: give a zoo id"):
        model_reference("")


@pytest.mark.parametrize(("device", "model"), [("no_such_board", "digits_cnn"), ("local", "no_such_model")])
def test_deploy_errors_are_the_clis_one_line_errors_raised(device: str, model: str, tmp_path: Path) -> None:
    """A bad device or model: the TestbedError the CLI prints, raised (no exit), before anything is converted."""
    db = f"sqlite:///{tmp_path / 'e.db'}"
    with pytest.raises(TestbedError) as exc:
        testbed.deploy(model=model, device=device, db=db, progress=False)
    cli = CliRunner().invoke(main, ["deploy", "--device", device, "--model", model, "--db", db])
    assert cli.exit_code == 2 and "\n" not in str(exc.value)
    assert " ".join(cli.output.split()) == " ".join(f"error: {exc.value}".split())
    with pytest.raises(ConfigError, match="unknown measurement preset 'fast'"):
        testbed.deploy(model="digits_cnn", device="local", preset="fast", db=db, progress=False)
