"""`testbed deploy --device local` end to end: real converters, a real agent subprocess over HTTP,
real runtimes, the SQLite store. Run through the real console script."""

from __future__ import annotations

import pytest

from helpers.cli import run, run_json
from testbed.store import Store

pytestmark = pytest.mark.integration

# --power-windows: this machine's only power source is an estimate, sampled only when asked for
# (test_deploy_presets checks the default); the power tests below check what it records.
FAST = ("--iterations", "20", "--warmup", "2", "--quant", "fp32", "--power-windows")


@pytest.fixture(scope="module")
def first_run() -> list[dict]:
    return run_json("deploy", "--device", "local", "--model", "digits_cnn", *FAST)


def test_every_format_from_both_frameworks(first_run: list[dict]) -> None:
    ok = {(r["format"], r["source"]) for r in first_run if r["status"] == "ok"}
    assert {("executorch", "pytorch"), ("onnx", "pytorch"), ("onnx", "keras"), ("tflite", "keras")} <= ok
    # PyTorch -> TFLite goes through litert-torch, which works here: it must be measured, not just tried.
    assert ("tflite", "pytorch") in ok


def test_rows_hold_the_promised_fields(first_run: list[dict]) -> None:
    for r in first_run:
        if r["status"] != "ok":
            continue
        lat = r["latency_ms"]
        assert lat["n"] >= 20 and 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert r["size_bytes"] > 1000 and r["load_ms"] > 0 and r["peak_rss_mb"] > 10
        assert r["accuracy"] >= 0.9, r  # digits held-out split
        assert r["parity"]["top1_agreement"] >= 0.99 and r["parity"]["max_abs_err"] < 1e-3, r
        assert r["runtime_version"] and r["tool_versions"]
        assert r["cached"] is False or r["bytes_sent"] == 0


def test_results_are_stored_with_raw_samples(first_run: list[dict]) -> None:
    rows = Store().results(first_run[0]["run_id"])
    assert len(rows) == len(first_run)
    measured = [r for r in rows if r.status == "ok"]
    assert measured and all(len(r.samples_ns) == r.record["latency_ms"]["n"] >= 20 for r in measured)
    assert all(r.record["latency_ms"]["p50"] == r.latency_p50_ms for r in measured)


def test_second_run_is_cached_and_sends_nothing(first_run: list[dict]) -> None:
    second = run_json("deploy", "--device", "local", "--model", "digits_cnn", *FAST)
    measured = [r for r in second if r["status"] == "ok"]
    assert len(measured) == len([r for r in first_run if r["status"] == "ok"])
    assert all(r["cached"] is True and r["bytes_sent"] == 0 for r in measured)


def test_table_output_is_labelled_and_fits_the_terminal() -> None:
    """The default table (one line per measured variant, units in the headers) within $COLUMNS: no
    printed line wider, on stdout or stderr; with more room its headers take one line each."""
    proc = run("deploy", "--device", "local", "--model", "digits_cnn", "--formats", "onnx", *FAST,
               env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in (proc.stdout + proc.stderr).splitlines()) <= 120, proc.stdout
    for word in ("Variant", "Runtime", "p50", "p99", "Size", "(KB)", "(ms)", "Model", "Accuracy", "Agreement"):
        assert word in proc.stdout, word
    wide = run("deploy", "--device", "local", "--model", "digits_cnn", "--formats", "onnx", "--sources", "pytorch",
               *FAST, "--wide", env={"COLUMNS": "300"})
    assert wide.returncode == 0, wide.stderr
    for header in ("Variant", "p50 (ms)", "p99 (ms)", "Size (KB)", "Peak RSS (MB)", "Accuracy (%)", "Cached"):
        assert header in wide.stdout


def test_unknown_model_is_one_clear_line() -> None:
    proc = run("deploy", "--device", "local", "--model", "no_such_model")
    assert proc.returncode == 2
    assert "unknown model 'no_such_model'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [("deploy", "--device", "local"), ("convert",)])
def test_empty_selection_is_one_line_exit_2_and_stores_nothing(command: tuple[str, ...]) -> None:
    """digits_cnn has no ExecuTorch variant from Keras: one line saying so and what there is, exit
    2, no empty table, no empty run in the store."""
    before = [d.id for d in Store().deployments(limit=1000)]
    proc = run(*command, "--model", "digits_cnn", "--formats", "executorch", "--sources", "keras")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: nothing matches formats executorch x sources keras x quant any for digits_cnn")
    assert "executorch/pytorch: fp32, int8-static" in lines[0] and "tflite/keras: fp32, fp16" in lines[0]
    assert proc.stdout.strip() == "" and "Traceback" not in proc.stderr
    assert [d.id for d in Store().deployments(limit=1000)] == before


def test_power_is_shown_and_labelled(first_run: list[dict]) -> None:
    """This machine has no readable RAPL (no /sys/class/powercap), so the local profile falls back to
    the CPU-utilisation estimate - and every record says it is an estimate."""
    for r in (r for r in first_run if r["status"] == "ok"):
        power = r["power"]
        assert power["sensor"] in ("rapl", "estimate")
        assert power["estimated"] is (power["sensor"] == "estimate")
        assert power["active_w"] is not None and power["missing_reason"] is None, power
    proc = run("deploy", "--device", "local", "--model", "digits_cnn", "--formats", "tflite",
               "--sources", "keras", *FAST, "--columns", "power,energy")
    assert "Power (W)" in proc.stdout and "Energy (mJ/inf)" in proc.stdout
    if first_run[0]["power"]["estimated"]:  # said in the headers and the note under the table
        assert "Power (W) est." in proc.stdout and "Energy (mJ/inf) est." in proc.stdout
        assert "ESTIMATED" in proc.stdout


def test_energy_per_inference_reproduced_by_hand_from_stored_samples(first_run: list[dict]) -> None:
    """Recompute idle W, active W and net mJ/inference from the raw (t_ns, W) samples in the store."""
    stored = [r for r in Store().results(first_run[0]["run_id"]) if r.status == "ok"][0]
    power = stored.record["power"]
    samples = [(int(t), float(w)) for t, w in stored.power_samples if w is not None]  # None: no reading yet

    def mean_watts(window: list[int]) -> float:
        pts = [(t, w) for t, w in samples if window[0] <= t <= window[1]]
        joules = sum((w0 + w1) / 2 * (t1 - t0) / 1e9 for (t0, w0), (t1, w1) in zip(pts, pts[1:]))
        return joules / ((pts[-1][0] - pts[0][0]) / 1e9)

    idle_w, active_w = mean_watts(power["idle_window_ns"]), mean_watts(power["active_window_ns"])
    duration_s = (power["active_window_ns"][1] - power["active_window_ns"][0]) / 1e9
    n = len(stored.samples_ns)
    assert power["inferences"] == n
    assert idle_w == pytest.approx(power["idle_w"], rel=1e-9)
    assert active_w == pytest.approx(power["active_w"], rel=1e-9)
    assert (active_w - idle_w) * duration_s / n * 1000 == pytest.approx(power["energy_mj_per_inference"],
                                                                        rel=1e-6, abs=1e-12)
