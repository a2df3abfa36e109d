"""The framework verdict (issue #15) on records built the way a deploy builds them (records.base_record +
add_measurement, schema 7) and synthetic raw samples whose answer is known: a 1.3x difference is found
with an interval that holds 1.3 and not 1, identical paths are "no clear difference", a failed side keeps
its reason, an estimated energy says so; the paragraph's wording and order; the table within 120 columns;
a stored run read back (for_run), after a deploy, and in `testbed report` (text, --json, HTML)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from testbed import framework_verdict as fv
from testbed import records
from testbed.converters import get as converter
from testbed.store import Store

MS = 1_000_000  # ns
REASON = ("LiteRT refused the model: tensorflow/lite/kernels/fully_connected.cc:360 NumInputs(node) != 2 (3 != 2); "
          "Node number 4 (FULLY_CONNECTED) failed to prepare: the whole reason is kept")
ESTIMATE = {"sensor": "estimate", "estimated": True, "active_w": 45.0, "idle_w": 10.0,
            "energy_mj_per_inference": 13.7, "what": "ESTIMATE from CPU utilisation: 10.0 W idle .. 45.0 W busy"}


def samples(median_ms: float, seed: int, n: int = 500, cv: float = 0.05) -> list[int]:
    """Normal raw latencies (ns) whose median is exactly ``median_ms`` (the PyTorch path at 2.0 ms and Keras
    at 2.6 ms below: a known ratio of 1.3), with a coefficient of variation ``cv``."""
    rng = np.random.default_rng(seed)
    values = rng.normal(median_ms * MS, cv * median_ms * MS, n)
    return [round(s) for s in values - np.median(values) + median_ms * MS]


def record(name: str, raw: list[int] | None = None, *, device: str = "pi4", model: str = "digits_cnn",
           error: str | None = None, **changes: Any) -> dict:
    """A v7 record of converter ``name`` as a deploy stores it: measured from ``raw``, or failed with ``error``."""
    conv = converter(name)
    art = SimpleNamespace(model=model, converter=name, format=conv.format, source=conv.source,
                          quantization=conv.quantization, runtime=conv.runtime, status="failed" if error else "ok",
                          error=error, size_bytes=None if error else 98_304, sha256=None if error else "0" * 64,
                          conversion_s=0.5, tool_versions={"torch": "2.5.0"}, extra={})
    rec = records.base_record(art, device, "dep-0001")
    if raw is not None:
        records.add_measurement(rec, {"samples_ns": raw, "runtime_version": "1.0", "runner": "python"}, None, None)
        rec.update(model_memory_mb=6.1, parity={"name": "output", "kind": "logits", "n": 360, "max_abs_err": 1e-6,
                                                "rel_err": 1e-7, "top1_agreement": 1.0}, accuracy=0.97)
    rec.update(changes)
    return records.Record.model_validate(rec).to_json()


def measured(*variants: tuple[str, float, int]) -> tuple[list[dict], dict[str, list[int]]]:
    """Records and raw samples (by ``sample_key``) of ``(converter, median ms, seed)`` variants."""
    recs, raw = [], {}
    for name, median, seed in variants:
        values = samples(median, seed)
        rec = record(name, values)
        recs.append(rec)
        raw[fv.sample_key(rec)] = values
    return recs, raw


def only_pair(verdicts: list[fv.FrameworkVerdict]) -> fv.PathPair:
    (verdict,) = verdicts
    (pair,) = verdict.pairs
    return pair


def test_a_keras_path_1_3x_slower_is_found_with_an_interval_that_excludes_1() -> None:
    recs, raw = measured(("onnx-torch-fp32", 2.0, 1), ("onnx-keras-fp32", 2.6, 2))
    pair = only_pair(fv.compare(recs, raw))
    assert (pair.kind, pair.format, pair.precision) == ("format", "onnx", "fp32")
    assert pair.verdict == fv.PYTORCH_FASTER
    assert pair.ratio == pytest.approx(1.3, abs=0.01)
    assert pair.ci is not None and pair.ci[0] <= 1.3 <= pair.ci[1] and pair.ci[0] > 1.0
    assert pair.speedup == pytest.approx(pair.ratio) and pair.speedup_ci == pair.ci
    assert pair.reason.startswith("PyTorch is 1.30x [1.29") and "faster than Keras (2.00 ms vs 2.60 ms median)" in pair.reason
    assert (pair.pytorch.variant, pair.tensorflow.variant) == ("onnx-torch-fp32", "onnx-keras-fp32")
    assert (pair.pytorch.path, pair.tensorflow.path) == ("ONNX from PyTorch", "ONNX from Keras")
    assert pair.pytorch.n_samples == 500 and pair.pytorch.size_bytes == 98_304
    assert pair.pytorch.model_memory_mb == 6.1 and pair.pytorch.agreement == "top-1 100.0 %"


def test_the_faster_side_is_named_either_way_and_the_interval_turns_with_it() -> None:
    recs, raw = measured(("tflite-torch-int8-static", 2.6, 3), ("tflite-keras-int8-static", 2.0, 4))
    pair = only_pair(fv.compare(recs, raw))
    assert pair.verdict == fv.TENSORFLOW_FASTER
    assert pair.ratio == pytest.approx(1 / 1.3, abs=0.01)
    assert pair.speedup == pytest.approx(1.3, abs=0.01)
    assert pair.ci is not None and pair.speedup_ci is not None
    assert pair.speedup_ci == pytest.approx((1 / pair.ci[1], 1 / pair.ci[0]))
    assert pair.speedup_ci[0] <= 1.3 <= pair.speedup_ci[1]
    assert pair.reason.startswith("Keras is 1.30x [") and "faster than PyTorch" in pair.reason


def test_identical_paths_are_no_clear_difference() -> None:
    recs, raw = measured(("onnx-torch-fp32", 2.0, 5), ("onnx-keras-fp32", 2.0, 6))
    pair = only_pair(fv.compare(recs, raw))
    assert pair.verdict == fv.NO_DIFFERENCE
    assert pair.ci is not None and pair.ci[0] <= 1.0 <= pair.ci[1]
    assert pair.speedup is None
    assert pair.reason.startswith(f"no clear difference (PyTorch 2.00 ms, Keras {pair.tensorflow.p50_ms:#.3g} ms median; "
                                  "Keras/PyTorch time 1.00x [")


def test_the_interval_is_seeded_the_same_samples_give_the_same_interval() -> None:
    recs, raw = measured(("onnx-torch-fp32", 2.0, 1), ("onnx-keras-fp32", 2.6, 2))
    assert only_pair(fv.compare(recs, raw)).ci == only_pair(fv.compare(recs, raw)).ci


def test_a_failed_side_is_not_compared_and_keeps_its_reason() -> None:
    recs, raw = measured(("tflite-keras-int8-dynamic", 2.0, 7))
    recs.append(record("tflite-torch-int8-dynamic", error=REASON))
    pair = only_pair(fv.compare(recs, raw))
    assert pair.verdict == fv.NOT_COMPARED and pair.ratio is None
    assert pair.pytorch.status == "failed" and pair.pytorch.reason == REASON
    assert pair.reason.startswith("only TFLite from Keras measured (PyTorch side failed: LiteRT refused the model")
    assert pair.tensorflow.p50_ms == pytest.approx(2.0, abs=0.02)


def test_a_side_not_in_the_run_is_named_and_a_variant_without_a_counterpart_is_left_out() -> None:
    recs, raw = measured(("onnx-keras-fp32", 2.0, 8), ("tflite-keras-fp16", 2.0, 9))  # no PyTorch fp16 TFLite
    pair = only_pair(fv.compare(recs, raw))
    assert pair.pytorch.status == "absent" and pair.pytorch.variant == "onnx-torch-fp32"
    assert pair.reason == "only ONNX from Keras measured (PyTorch side not in this run)"


def test_several_thread_settings_are_paired_per_setting_and_a_run_without_pairs_says_so() -> None:
    recs, raw = [], {}
    for threads, keras_ms in ((1, 2.6), (4, 2.0)):
        for name, median in (("onnx-torch-fp32", 2.0), ("onnx-keras-fp32", keras_ms)):
            values = samples(median, threads * 10 + len(recs))
            rec = record(name, values, threads=threads)
            recs.append(rec)
            raw[fv.sample_key(rec)] = values
    recs.append(record("onnx-torch-int8-dynamic", error=REASON))  # failed: no threads applied, in both settings
    (verdict,) = fv.compare(recs, raw)
    by = {(p.threads, p.label): p for p in verdict.pairs}
    assert set(by) == {(1, "fp32 ONNX"), (4, "fp32 ONNX"), (1, "int8-dynamic ONNX"), (4, "int8-dynamic ONNX")}
    assert by[(1, "fp32 ONNX")].verdict == fv.PYTORCH_FASTER and by[(4, "fp32 ONNX")].verdict == fv.NO_DIFFERENCE
    assert "t1 fp32 ONNX: PyTorch is 1.30x [" in verdict.summary() and "t4 fp32 ONNX: no clear difference" in verdict.summary()
    assert "ONNX t1" in printed([verdict], 120)
    (alone,) = fv.compare([record("tflite-keras-fp16", samples(1.0, 1))])
    assert alone.pairs == [] and alone.summary().startswith("On pi4, digits_cnn — no PyTorch/TensorFlow pair in this run")


def test_a_reason_both_sides_share_is_said_once() -> None:
    broken = "conversion process failed: BrokenProcessPool: a worker died"
    (verdict,) = fv.compare([record("onnx-torch-fp32", error=broken), record("onnx-keras-fp32", error=broken)])
    assert verdict.pairs[0].reason == f"neither side measured (both failed: {broken})"
    assert f"onnx-torch-fp32, onnx-keras-fp32 failed: {broken}" in printed([verdict], 120)


def test_without_raw_samples_the_ratio_is_given_but_not_judged() -> None:
    recs, _ = measured(("onnx-torch-fp32", 2.0, 1), ("onnx-keras-fp32", 2.6, 2))
    pair = only_pair(fv.compare(recs))  # a tool's summary: medians only
    assert pair.verdict == fv.NOT_JUDGED and pair.ci is None
    assert pair.ratio == pytest.approx(1.3, abs=0.01)
    assert "without a CI" in pair.reason


def test_an_estimated_energy_is_labelled_estimated() -> None:
    recs, raw = measured(("onnx-torch-fp32", 2.0, 1), ("onnx-keras-fp32", 2.6, 2))
    for rec in recs:
        rec["power"] = dict(ESTIMATE)
    (verdict,) = fv.compare(recs, raw)
    pair = verdict.pairs[0]
    assert pair.pytorch.energy_estimated and pair.pytorch.energy_mj_per_inference == 13.7
    assert "Energy figures are ESTIMATED" in verdict.summary()
    text = printed([verdict], 120)
    assert "13.7 est." in text and "ESTIMATED from CPU utilisation" in text
    sensor = dict(ESTIMATE, sensor="ina219", estimated=False)
    for rec in recs:
        rec["power"] = sensor
    (measured_energy,) = fv.compare(recs, raw)
    assert not measured_energy.pairs[0].pytorch.energy_estimated
    assert "ESTIMATED" not in measured_energy.summary() and "est." not in printed([measured_energy], 120)


def every_kind() -> tuple[list[dict], dict[str, list[int]]]:
    """A board's run with pairs of every kind: large and small differences, none, a failed side."""
    recs, raw = measured(
        ("onnx-torch-fp32", 2.0, 11), ("onnx-keras-fp32", 2.0, 12),  # no clear difference
        ("tflite-torch-fp32", 2.6, 13), ("tflite-keras-fp32", 2.0, 14),  # Keras 1.3x
        ("executorch-xnnpack-fp32", 1.0, 15), ("executorch-portable-fp32", 9.0, 16),  # native: XNNPACK, 2x
        ("tflite-keras-int8-dynamic", 1.5, 17),
        ("pytorch-export-fp32", 5.0, 18), ("tensorflow-savedmodel-fp32", 6.0, 19))  # frameworks: PyTorch 1.2x
    recs.append(record("tflite-torch-int8-dynamic", error=REASON))
    return recs, raw


def test_pairs_of_every_kind_and_the_paragraph_in_order_of_what_matters() -> None:
    (verdict,) = fv.compare(*every_kind())
    by_label = {p.label: p for p in verdict.pairs}
    assert set(by_label) == {"fp32 ONNX", "fp32 TFLite", "int8-dynamic TFLite", "fp32 native paths",
                             "the frameworks themselves (fp32)"}
    native = by_label["fp32 native paths"]
    assert native.pytorch.variant == "executorch-xnnpack-fp32"  # XNNPACK, not the portable kernels
    assert native.verdict == fv.PYTORCH_FASTER and native.speedup == pytest.approx(2.0, abs=0.02)
    assert by_label["the frameworks themselves (fp32)"].verdict == fv.PYTORCH_FASTER
    assert [p.label for p in verdict.ordered()] == ["fp32 native paths", "fp32 TFLite", "the frameworks themselves (fp32)",
                                                    "fp32 ONNX", "int8-dynamic TFLite"]
    summary = verdict.summary()
    speedup = {label: f"{p.speedup:.2f}x [" for label, p in by_label.items() if p.speedup}
    assert summary.startswith("On pi4, digits_cnn — fp32 native paths: ExecuTorch from PyTorch is "
                              + speedup["fp32 native paths"])
    assert "faster than TFLite from Keras (1.00 ms vs 2.00 ms median); fp32 TFLite: Keras is " + speedup["fp32 TFLite"] in summary
    assert "the frameworks themselves (fp32): PyTorch is " + speedup["the frameworks themselves (fp32)"] in summary
    assert "faster than TensorFlow (5.0" in summary and " vs 6.0" in summary
    assert by_label["fp32 TFLite"].speedup == pytest.approx(1.3, abs=0.02)
    assert "fp32 ONNX: no clear difference (PyTorch 2.00 ms, Keras 2.00 ms median" in summary
    assert "int8-dynamic TFLite: only TFLite from Keras measured (PyTorch side failed: LiteRT refused" in summary
    assert summary.endswith("Ratios of median latency, 95% bootstrap CI in brackets. One run per variant: the intervals "
                            "hold the noise within a run, not between runs (a plan with repeats: 3 measures that too).")
    assert summary.index("native") < summary.index("fp32 TFLite") < summary.index("fp32 ONNX") < summary.index("int8-dynamic")


def test_to_json_is_plain_json_with_the_summary() -> None:
    (verdict,) = fv.compare(*every_kind())
    data = json.loads(json.dumps(verdict.to_json()))
    assert data["model"] == "digits_cnn" and data["device"] == "pi4" and data["summary"] == verdict.summary()
    pair = next(p for p in data["pairs"] if p["label"] == "fp32 TFLite")
    assert pair["verdict"] == "tensorflow faster" and len(pair["ci"]) == 2
    assert pair["tensorflow"]["variant"] == "tflite-keras-fp32" and pair["tensorflow"]["p50_ms"] == pytest.approx(2.0, abs=0.02)


def printed(verdicts: list[fv.FrameworkVerdict], width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    for renderable in fv.render(verdicts, width):
        console.print(renderable)
    return console.export_text()


def widest(text: str) -> int:
    """The longest line in UTF-8 bytes (what `awk length` counts: "–", "—" and "µ" are 2-3 bytes)."""
    return max(len(line.encode()) for line in text.splitlines())


def test_the_table_fits_120_columns_with_every_variant_on_one_line() -> None:
    recs, raw = every_kind()
    for rec in recs:
        if rec["status"] == "ok":
            rec["power"] = dict(ESTIMATE)  # every optional column has something to show
    verdicts = fv.compare(recs, raw)
    text = printed(verdicts, 120)
    lines = text.splitlines()
    assert widest(text) <= 120, [line for line in lines if len(line.encode()) > 120]
    for name in ("executorch-xnnpack-fp32", "tensorflow-savedmodel-fp32", "tflite-torch-int8-dynamic",
                 "tflite-keras-int8-dynamic", "pytorch-export-fp32", "onnx-keras-fp32"):
        assert any(name in line.split() for line in lines), name  # whole, on one line
    header = "\n".join(lines[:next(i for i, line in enumerate(lines) if line.lstrip().startswith("--"))])
    for word in ("Pair", "Variant", "p50", "Agreement", "Size", "Model", "Energy", "Verdict"):
        assert word in header, word
    assert "Not shown" not in text
    native = next(p for p in verdicts[0].pairs if p.kind == "native")
    assert f"PyTorch {native.speedup:.2f}x faster" in text and "no clear difference" in text
    assert f"tflite-torch-int8-dynamic failed: {REASON}" in " ".join(text.split())


def test_a_narrow_terminal_drops_columns_and_says_which() -> None:
    recs, raw = every_kind()
    text = printed(fv.compare(recs, raw), 80)
    assert widest(text) <= 80
    assert "Not shown at this width:" in text
    assert "executorch-xnnpack-fp32" in text.split()


# --- a stored run: for_run, after a deploy, and in `testbed report` ---------------------------------------------

RUN = "20260301-120000-fw01"


def stored_run(tmp_path: Path) -> Store:
    """A deploy run (kind deploy, formats onnx,tflite) stored like the engine stores it: one cell per variant,
    a conversion that failed without a record, and a variant measured twice (repeats)."""
    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    variants = {"onnx-torch-fp32": 2.0, "onnx-keras-fp32": 2.6, "tflite-keras-int8-dynamic": 1.5,
                "tflite-torch-int8-dynamic": None}
    cells = []
    for name in variants:
        conv = converter(name)
        cells.append({"key": f"pi4/digits_cnn/{name}/tdefault", "device": "pi4", "model": "digits_cnn",
                      "converter": name, "format": conv.format, "source": conv.source,
                      "quantization": conv.quantization, "runtime": conv.runtime, "threads": None, "repeats": 1})
    plan = {"name": "deploy/pi4/digits_cnn", "devices": ["pi4"], "models": ["digits_cnn"], "formats": ["onnx", "tflite"],
            "sources": None, "quantization": None}
    store.create_plan_run(RUN, plan["name"], plan, "x", "host", "0", cells, ["pi4"], kind="deploy")
    dep = store.start_deployment("pi4", "digits_cnn", "0")
    for seed, cell in enumerate(store.plan_cells(RUN)):
        median = variants[cell.converter]
        if median is None:  # a failed conversion: the cell's reason, no record
            store.finish_cell(cell.id, "failed", REASON, None, [])
            continue
        repeats = 2 if cell.converter == "onnx-keras-fp32" else 1  # a plan's repeats: pooled, two-stage bootstrap
        results = []
        for repeat in range(repeats):
            values = samples(median, 100 + 10 * seed + repeat)
            rec = record(cell.converter, values)
            results.append((rec, values, []))
        store.finish_cell(cell.id, "done", None, dep, results)
    store.finish_plan_run(RUN, "done")
    return store


def test_for_run_reads_records_samples_and_cells_without_a_result(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    (verdict,) = fv.for_run(store, RUN[:12])  # a prefix, as `testbed runs` ids are typed
    assert verdict.run_id == RUN
    by_label = {p.label: p for p in verdict.pairs}
    assert set(by_label) == {"fp32 ONNX", "int8-dynamic TFLite"}  # no baseline nor native: not requested
    onnx = by_label["fp32 ONNX"]
    assert onnx.verdict == fv.PYTORCH_FASTER and onnx.ci is not None and onnx.ci[0] <= 1.3 <= onnx.ci[1]
    assert onnx.tensorflow.repeats == 2 and onnx.tensorflow.n_samples == 1000
    assert "Some variants ran once: the intervals hold the noise within a run" in verdict.summary()  # Keras fp32: 2
    failed = by_label["int8-dynamic TFLite"]
    assert failed.verdict == fv.NOT_COMPARED and failed.pytorch.status == "failed" and failed.pytorch.reason == REASON


def test_a_side_the_run_filtered_out_is_not_requested(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    why = fv.stored.why_absent(store.plan_run(RUN).plan)  # type: ignore[union-attr]
    assert why("executorch-xnnpack-fp32") == "not requested (the run's formats: onnx, tflite)"
    assert why("onnx-torch-int8-static") == "not in this run"


def test_print_after_deploy_prints_the_paragraph_and_the_table(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    console = Console(width=120, record=True, color_system=None)
    fv.print_after_deploy(console, store, RUN)
    text = console.export_text()
    assert "On pi4, digits_cnn — fp32 ONNX: PyTorch is 1.30x [" in " ".join(text.split())
    assert "digits_cnn on pi4: PyTorch vs TensorFlow paths" in text and "onnx-keras-fp32" in text
    assert widest(text) <= 120
    quiet = Console(width=120, record=True, color_system=None)
    fv.print_after_deploy(quiet, store, "no-such-run")  # a run it cannot find: one line, no traceback
    assert quiet.export_text().startswith("framework verdict not available: no run 'no-such-run'")


def test_testbed_report_text_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from testbed.report import html
    from testbed.report.plan_report import plan_report

    store = stored_run(tmp_path)
    plan_report(RUN, store.url, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert data["run"] == RUN and data["kind"] == "deploy" and len(data["cells"]) == 4
    (verdict,) = data["framework_verdict"]
    assert verdict["summary"].startswith("On pi4, digits_cnn — fp32 ONNX: PyTorch is 1.30x [")
    console = Console(width=120, record=True, color_system=None)
    plan_report(RUN, store.url, out=console)
    text = console.export_text()
    assert "PyTorch vs TensorFlow paths" in text and "PyTorch 1.30x faster" in text
    page = html.render(store, RUN)
    assert "<h2>Framework verdict: PyTorch vs TensorFlow paths</h2>" in page
    assert "PyTorch is 1.30x [" in page and "<code>tflite-torch-int8-dynamic</code>" in page
    assert "LiteRT refused the model" in page
