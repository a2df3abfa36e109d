"""The host recomputes the reported interval from the raw samples and the agent's window boundaries
(issue 16); a result without windows (an old agent, the native runner) keeps the one-window interval
and says so."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from testbed import records
from testbed.stats import latency_summary, result_latency, window_bounds
from testbed_agent.rerun_interval import METHOD, ONE_WINDOW
from testbed_agent.stopping import median_ci

ART = SimpleNamespace(model="m", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                      quantization="fp32", runtime="onnxruntime", status="ok", error=None,
                      size_bytes=10, sha256="0" * 64, conversion_s=0.1, tool_versions={}, extra={})


def _drifting(windows: int = 5, per_window: int = 40) -> tuple[list[int], list[dict]]:
    """Samples whose level moves by 1 % a window (1.00, 1.01, ... ms), tight inside each window."""
    rng = np.random.default_rng(3)
    samples: list[int] = []
    marks = []
    for w in range(windows):
        marks.append({"start_index": len(samples), "n": per_window, "median_ns": 0.0, "t_start_s": 0.1 * w})
        samples += [int(1e6 * (1 + 0.01 * w) * (1 + 0.001 * rng.standard_normal())) for _ in range(per_window)]
    return samples, marks


def test_summary_from_windows_is_the_rerun_interval() -> None:
    samples, marks = _drifting()
    bounds = [(m["start_index"], m["n"]) for m in marks]
    windowed = latency_summary(samples, windows=bounds)
    one = latency_summary(samples)
    assert windowed["ci_method"] == METHOD and windowed["ci_windows"] == 5
    assert one["ci_method"] == ONE_WINDOW and one["ci_windows"] is None
    assert windowed["ci_low"] <= windowed["p50"] <= windowed["ci_high"]
    # five window medians 1.00..1.04 ms: sd 1.58 %, t_4 2.776, sqrt(2/5) -> about ±2.8 %
    assert windowed["ci_pct"] == pytest.approx(2.776 * 1.581 * (2 / 5) ** 0.5, rel=0.03)
    assert one["ci_pct"] < 1.0  # the one-window interval of the same samples claims far less
    assert windowed["p50"] == one["p50"] and windowed["n"] == one["n"] == len(samples)


def test_result_latency_uses_the_windows_and_falls_back_without_them() -> None:
    samples, marks = _drifting()
    result = {"samples_ns": samples, "measurement": {"windows": marks}}
    assert window_bounds(result) == [(m["start_index"], m["n"]) for m in marks]
    assert result_latency(result)["ci_method"] == METHOD
    old = {"samples_ns": samples, "measurement": {"stop_reason": "ci_target_met"}}  # an old agent
    summary = result_latency(old)
    ci = median_ci(np.asarray(samples) / 1e6)
    assert ci is not None
    assert summary["ci_method"] == ONE_WINDOW and (summary["ci_low"], summary["ci_high"]) == (ci.low, ci.high)
    assert result_latency({"samples_ns": []})["ci_method"] is None
    with pytest.raises(ValueError, match="outside the 200 samples"):
        result_latency({"samples_ns": samples, "measurement": {"windows": [{"start_index": 190, "n": 20}]}})


def test_record_keeps_the_windows_with_medians_from_the_raw_samples() -> None:
    samples, marks = _drifting()
    marks[0]["median_ns"] = 123.0  # whatever the agent said: the host recomputes
    result = {"samples_ns": samples, "measurement": {"stop_reason": "max_s_reached", "timed_s": 1.0,
                                                      "windows": marks}}
    record = records.base_record(ART, "local", "run1")
    records.add_measurement(record, result, None, None, {"preset": "default", "ci_target_pct": 2.0})
    m, lat = record["measurement"], record["latency_ms"]
    assert m["ci_method"] == lat["ci_method"] == METHOD and lat["ci_windows"] == 5
    assert [w["start_index"] for w in m["windows"]] == [0, 40, 80, 120, 160]
    assert m["windows"][0]["median_ns"] == float(np.median(samples[:40])) != 123.0
    assert m["windows"][4]["t_start_s"] == pytest.approx(0.4)
    assert m["target_met"] is False and lat["ci_pct"] > 2.0  # judged on the rerun interval
    records.Record.model_validate(record)  # the record's type takes the new fields


def test_record_of_an_old_agent_says_one_window() -> None:
    samples, _ = _drifting()
    record = records.base_record(ART, "local", "run2")
    records.add_measurement(record, {"samples_ns": samples, "measurement": {"timed_s": 1.0}}, None, None,
                            {"preset": "default", "ci_target_pct": 2.0})
    assert record["measurement"]["ci_method"] == ONE_WINDOW and record["measurement"]["windows"] is None
    assert record["latency_ms"]["ci_windows"] is None
