"""`testbed deploy --preset` end to end on the local agent: one variant (ONNX from PyTorch, fp32),
real conversion, real agent and runtime. Checks what is printed and recorded, never the speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import run, run_json

pytestmark = pytest.mark.integration

ONE = ("--device", "local", "--model", "digits_cnn", "--formats", "onnx", "--sources", "pytorch",
       "--quant", "fp32")


def test_quick_preset_prints_n_p50_ci_and_target() -> None:
    proc = run("deploy", *ONE, "--preset", "quick")
    assert proc.returncode == 0, proc.stderr
    for header in ("n", "p50 (ms)", "±CI (%)", "Target", "Model", "Peak RSS (MB)"):
        assert header in proc.stdout
    assert "Measurement: preset quick" in proc.stdout and "stop when ±CI <= 5 %" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if "onnx-torch-fp32" in line)
    assert "yes" in row or "NO" in row  # the target verdict, whichever it was


def test_quick_preset_record() -> None:
    [record] = run_json("deploy", *ONE, "--preset", "quick")
    assert record["status"] == "ok" and record["schema_version"] == 4
    m, lat = record["measurement"], record["latency_ms"]
    # a tail percentile only from enough samples (issue 11: a p99 of ~20 samples was printed)
    assert lat["percentile_min_n"] == {"p90": 36, "p99": 368}
    assert (lat["p99"] is None) is (lat["n"] < 368) and (lat["p90"] is None) is (lat["n"] < 36)
    assert m["preset"] == "quick" and m["requested"]["ci_target_pct"] == 5.0
    assert m["stop_reason"] in ("ci_target_met", "max_s_reached")
    # The verdict is recomputed on the host from the raw samples and agrees with why it stopped.
    assert m["target_met"] is (lat["ci_pct"] <= 5.0)
    assert m["target_met"] is (m["stop_reason"] == "ci_target_met")
    assert lat["n"] >= 20 and lat["ci_low"] <= lat["p50"] <= lat["ci_high"]
    assert lat["trimmed_mean"] > 0 and lat["cv_pct"] >= 0
    assert record["model_memory_mb"] is not None and record["model_memory_mb"] >= 0
    assert record["memory"]["baseline_rss_mb"] <= record["memory"]["peak_rss_mb"]
    assert record["settings"]["providers"] == ["CPUExecutionProvider"]
    if not list(Path("/sys/class/thermal").glob("thermal_zone*")):
        assert record["thermal"]["available"] is False
        assert record["thermal"]["status"].startswith("not available")


def test_timeout_shorter_than_max_s_is_one_line() -> None:
    proc = run("deploy", *ONE, "--preset", "quick", "--timeout", "3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--timeout 3 s must be longer than the runs' max_s (5 s, preset quick)" in proc.stderr
