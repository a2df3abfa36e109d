"""Statistics are derived from raw samples; check them against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.stats import accuracy, latency_summary, parity


def test_latency_summary_from_samples() -> None:
    samples = [1_000_000, 2_000_000, 3_000_000, 4_000_000, 10_000_000]  # 1,2,3,4,10 ms
    s = latency_summary(samples)
    assert s["n"] == 5 and s["min"] == 1.0 and s["max"] == 10.0
    assert s["p50"] == 3.0 and s["mean"] == 4.0
    assert s["p90"] is None and s["p99"] is None  # 5 samples: too few for a tail percentile
    assert s["std"] == pytest.approx(np.sqrt((9 + 4 + 1 + 0 + 36) / 4))


def test_tail_percentiles_by_hand() -> None:
    # 1..40 ms: p90 at rank 0.9 * 39 = 35.1 (0-based), linear between 36 and 37 ms
    s = latency_summary([i * 1_000_000 for i in range(1, 41)])
    assert s["p90"] == pytest.approx(36.1) and s["p99"] is None
    s = latency_summary([i * 1_000_000 for i in range(1, 401)])
    assert s["p99"] == pytest.approx(396 + 0.01)  # rank 0.99 * 399 = 395.01 (0-based)


def test_percentile_needs_enough_samples_for_its_confidence_interval() -> None:
    """Issue 11: a quick run of ~20 samples printed a p99 (its largest sample). The rule: a percentile
    needs as many samples as make [min, max] a 95 % interval for it, like the median CI's n >= 6."""
    from testbed.stats import median_ci, percentile_min_n

    assert percentile_min_n(0.5) == 6 and percentile_min_n(0.9) == 36 and percentile_min_n(0.99) == 368
    for q in (0.5, 0.9, 0.99):
        n = percentile_min_n(q)
        assert q ** n + (1 - q) ** n <= 0.05  # P([min, max] misses the q quantile)
        assert max(q, 1 - q) ** (n - 1) > 0.025  # one sample fewer would not do
    assert median_ci(list(range(5))) is None and median_ci(list(range(6))) is not None  # the same limit
    for n, shown in ((22, set()), (35, set()), (36, {"p90"}), (367, {"p90"}), (368, {"p90", "p99"})):
        s = latency_summary([1_000_000 + i for i in range(n)])
        assert {k for k in ("p90", "p99") if s[k] is not None} == shown, n
        assert s["p50"] is not None and s["percentile_min_n"] == {"p90": 36, "p99": 368}


def test_table_says_why_a_percentile_is_left_out() -> None:
    import io

    from rich.console import Console

    from testbed.report import table
    from testbed.report.deploy_columns import BY_KEY

    row = {"converter": "onnx-torch-fp32", "runtime": "onnxruntime", "status": "ok", "size_bytes": 1000,
           "latency_ms": latency_summary([1_000_000 + 1000 * i for i in range(22)]), "measurement": None}
    p90, p99 = table.row_cells(row, [BY_KEY["p90"], BY_KEY["p99"]])
    assert p90 == p99 == "–"
    out = io.StringIO()
    table.render([row], "t", Console(file=out, width=400, color_system=None))
    text = out.getvalue()
    assert "Percentiles left out" in text and "onnx-torch-fp32 n=22" in text
    assert "p90 >= 36, p99 >= 368" in text


def test_p_values_print_no_invented_digits() -> None:
    from testbed.stats import fmt_p_value

    assert fmt_p_value(0.0) == "< 1e-6" and fmt_p_value(1e-300) == "< 1e-6"
    assert fmt_p_value(3.2e-5) == "3.2e-05" and fmt_p_value(0.04) == "0.04" and fmt_p_value(None) == "–"


def test_empty_samples_are_missing_not_zero() -> None:
    s = latency_summary([])
    assert s["n"] == 0 and s["p50"] is None


def test_parity_and_accuracy() -> None:
    ref = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    out = ref + np.array([[0.0, 0.0], [0.0, 0.7], [0.0, 0.0]])  # second sample flips its top-1
    p = parity(out, ref)
    assert p["max_abs_err"] == pytest.approx(0.7) and p["top1_agreement"] == pytest.approx(2 / 3)
    assert accuracy(ref, np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_new_summary_fields_by_hand() -> None:
    # 1..10 ms: the 95 % CI of the median is [x(2), x(9)] = [2, 9] ms around 5.5 ms.
    s = latency_summary([i * 1_000_000 for i in range(10, 0, -1)])
    assert s["p50"] == 5.5 and (s["ci_low"], s["ci_high"]) == (2.0, 9.0)
    assert s["ci_pct"] == pytest.approx(3.5 / 5.5 * 100) and s["ci_level"] == 0.95
    assert s["trimmed_mean"] == pytest.approx(5.5)  # drops 1 ms and 10 ms
    assert s["cv_pct"] == pytest.approx(s["std"] / s["mean"] * 100)


def test_trimmed_mean_is_the_middle_80_percent() -> None:
    from testbed.stats import trimmed_mean

    values = np.array([100.0] + [1.0] * 18 + [-50.0])  # 20 values: one outlier at each end
    assert trimmed_mean(values) == pytest.approx(1.0)
    assert trimmed_mean(np.array([1.0, 2.0, 30.0])) == pytest.approx(11.0)  # 10 % of 3 = 0: all kept


def test_ci_is_the_agents_function() -> None:
    """The host reports with the very function the agent stops with (imported, not copied)."""
    import testbed.stats
    import testbed_agent.stopping

    assert testbed.stats.median_ci is testbed_agent.stopping.median_ci


def test_too_few_samples_have_no_ci_and_never_meet_a_target() -> None:
    from testbed.stats import target_met

    s = latency_summary([1_000_000] * 5)
    assert s["ci_low"] is None and s["ci_pct"] is None
    assert target_met(s, 5.0) is False and target_met(s, None) is None
    tight = latency_summary([1_000_000] * 50)
    assert tight["ci_pct"] == 0.0 and target_met(tight, 1.0) is True


def test_mlperf_singlestream_verdict() -> None:
    from testbed.stats import mlperf_singlestream

    samples = [(i % 100 + 1) * 1_000_000 for i in range(1100)]  # 1..100 ms, 11 times each
    valid = mlperf_singlestream(samples, 61.0)
    assert valid["result"] == "VALID" and valid["reasons"] == []
    assert valid["p90_ms"] == 90.0  # nearest rank: the 990th of 1100 sorted values
    short = mlperf_singlestream(samples[:1000], 59.5)
    assert short["result"] == "INVALID"
    assert short["reasons"] == ["1000 queries < the minimum 1024", "duration 59.5 s < the minimum 60 s"]
    assert mlperf_singlestream([], None)["p90_ms"] is None
    capped = mlperf_singlestream(samples, 51.2, "max_samples_reached")
    assert capped["result"] == "INVALID" and "cap of 1100 raw samples came first" in capped["reasons"][0]


def test_model_memory_leaves_out_the_sample_buffer() -> None:
    from testbed.records import memory

    mb = 1024 * 1024
    figures = memory({"baseline_rss_bytes": 100 * mb, "load_peak_rss_bytes": 110 * mb,
                      "inference_peak_rss_bytes": 130 * mb, "samples_buffer_bytes": 8 * mb})
    assert figures["model_memory_mb"] == 22.0 and figures["samples_buffer_mb"] == 8.0
    assert memory({})["model_memory_mb"] is None  # an agent without the figures: missing, not 0


def test_record_measurement_and_memory_from_a_raw_result() -> None:
    """records.add_measurement recomputes target_met from the samples and derives model memory."""
    from types import SimpleNamespace

    from testbed import records

    art = SimpleNamespace(model="m", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                          quantization="fp32", runtime="onnxruntime", status="ok", error=None,
                          size_bytes=10, sha256="0" * 64, conversion_s=0.1, tool_versions={}, extra={})
    record = records.base_record(art, "local", "run1")
    assert record["schema_version"] == records.SCHEMA_VERSION and record["measurement"] is None
    mb = 1024 * 1024
    result = {"samples_ns": [1_000_000 + (i % 7) * 200_000 for i in range(200)],
              "measurement": {"stop_reason": "max_s_reached", "timed_s": 2.0, "warmup_runs": 10,
                              "warmup_s": 0.1, "ci_checks": 9, "ci_target_met": True},
              "empty_rss_bytes": 30 * mb, "baseline_rss_bytes": 50 * mb,
              "load_peak_rss_bytes": 62 * mb, "inference_peak_rss_bytes": 58 * mb,
              "peak_rss_bytes": 70 * mb, "memory_method": "VmHWM", "thermal": {"available": False},
              "samples_buffer_bytes": 1600}
    requested = {"preset": "default", "ci_target_pct": 1.0}
    records.add_measurement(record, result, None, None, requested)
    m = record["measurement"]
    assert m["stop_reason"] == "max_s_reached" and m["ci_target_pct"] == 1.0
    # Recomputed from the raw samples (1.0..2.2 ms: the CI of the median is far wider than ±1 %),
    # whatever the agent said.
    assert m["target_met"] is False and record["latency_ms"]["ci_pct"] > 1.0
    assert m["mlperf"] is None and m["requested"] == requested
    assert record["model_memory_mb"] == 12.0
    assert record["memory"] == {"model_memory_mb": 12.0, "empty_worker_rss_mb": 30.0,
                                "baseline_rss_mb": 50.0, "load_peak_rss_mb": 62.0,
                                "inference_peak_rss_mb": 58.0, "peak_rss_mb": 70.0,
                                "samples_buffer_mb": 0.0, "method": "VmHWM"}
    assert record["thermal"] == {"available": False}
    summary_only = records.base_record(art, "phone", "run2")
    records.add_measurement(summary_only, {"samples_ns": []}, None, None, requested)
    assert summary_only["measurement"]["target_met"] is None  # no samples: not judged either way
