"""The adb transport's parsers on output samples of the three native tools.

The fixture files (tests/fixtures/android/) reproduce each tool's exact line formats; see their
README for where they come from (no Android device exists on the build machines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.android.parsers import parse_benchmark_model, parse_executor_runner, parse_perf_test

FIX = Path(__file__).parents[1] / "fixtures" / "android"


def read(name: str) -> str:
    return (FIX / name).read_text()


def test_benchmark_model_takes_the_timed_run_not_the_warmup() -> None:
    r = parse_benchmark_model(read("benchmark_model_mobilenet_v2_xnnpack.txt"))
    assert r["ok"] and r["n"] == 77
    lat = r["latency_ms"]
    assert lat["mean"] == pytest.approx(13.0048) and lat["std"] == pytest.approx(0.372)
    assert lat["min"] == pytest.approx(12.741) and lat["max"] == pytest.approx(15.208)
    assert lat["p50"] == pytest.approx(12.901) and lat["p95"] == pytest.approx(13.861)
    assert r["load_ms"] == pytest.approx(38.412) and r["first_inference_ms"] == pytest.approx(21.874)
    assert r["memory_mb"]["overall"] == pytest.approx(41.2305)
    assert (r["delegated_nodes"], r["total_nodes"]) == (65, 66)
    assert r["model_size_mb"] == pytest.approx(13.9983)


def test_benchmark_model_older_format() -> None:
    r = parse_benchmark_model(read("benchmark_model_old_format.txt"))
    assert r["ok"] and r["n"] == 50 and r["latency_ms"]["p50"] is None  # older builds print no median
    assert r["latency_ms"]["mean"] == pytest.approx(41.9662)
    assert r["memory_mb"]["init"] == pytest.approx(2.83594)


def test_benchmark_model_failure_keeps_the_tools_reason() -> None:
    r = parse_benchmark_model(read("benchmark_model_failed.txt"))
    assert not r["ok"] and r["error"] == "ERROR: The model is not a valid Flatbuffer buffer"


def test_executor_runner() -> None:
    r = parse_executor_runner(read("executor_runner_mv2_xnnpack.txt"))
    assert r["ok"] and r["n"] == 50 and r["total_ms"] == pytest.approx(551.473)
    assert r["latency_ms"]["mean"] == pytest.approx(551.473 / 50)
    assert r["load_ms"] == pytest.approx((0.031544 - 0.000912) * 1000)
    assert r["outputs"] == 1


def test_executor_runner_failure() -> None:
    r = parse_executor_runner(read("executor_runner_failed.txt"))
    assert not r["ok"] and "Program identifier 'ZZZZ' != expected 'ET12'" in r["error"]


def test_onnxruntime_perf_test() -> None:
    r = parse_perf_test(read("onnxruntime_perf_test_mv2.txt"))
    assert r["ok"] and r["n"] == 50
    lat = r["latency_ms"]
    assert lat["mean"] == pytest.approx(15.7631) and lat["p50"] == pytest.approx(15.6011)
    assert lat["p99"] == pytest.approx(19.3058) and lat["min"] == pytest.approx(15.1472)
    assert r["load_ms"] == pytest.approx(184.215) and r["first_inference_ms"] == 17
    assert r["peak_rss_mb"] == pytest.approx(75362304 / 2**20)


def test_garbage_is_a_failure_not_a_crash() -> None:
    for parse in (parse_benchmark_model, parse_executor_runner, parse_perf_test):
        r = parse("sh: /data/local/tmp/testbed/tool: not found\n")
        assert not r["ok"] and "not found" in r["error"]


# -- formats of other releases, as users' real logs show them (see the fixture README) -----------
def test_benchmark_model_2019_format() -> None:
    r = parse_benchmark_model(read("benchmark_model_2019_format.txt"))
    assert r["ok"] and r["n"] == 23
    assert r["latency_ms"]["mean"] == pytest.approx(44.8683) and r["latency_ms"]["std"] == pytest.approx(0.311)
    assert r["load_ms"] == pytest.approx(6.284) and r["warmup_avg_ms"] == pytest.approx(46.3225)
    assert r["first_inference_ms"] is None  # not printed by those builds: missing, not invented


def test_onnxruntime_perf_test_older_labels() -> None:
    r = parse_perf_test(read("onnxruntime_perf_test_older_labels.txt"))
    assert r["ok"] and r["n"] == 100
    lat = r["latency_ms"]
    assert lat["mean"] == pytest.approx(17.1906) and lat["p50"] == pytest.approx(17.0814)
    assert lat["p90"] == pytest.approx(17.6502) and lat["max"] == pytest.approx(20.9457)
    assert r["load_ms"] == pytest.approx(92.1) and r["first_inference_ms"] is None


def test_executor_runner_without_timing_says_so() -> None:
    r = parse_executor_runner(read("executor_runner_no_timing.txt"))
    assert not r["ok"] and "printed no timing" in r["error"]


def test_backend_runner_average_line() -> None:
    r = parse_executor_runner(read("backend_runner_avg_line.txt"))
    assert r["ok"] and r["n"] == 100 and r["total_ms"] == pytest.approx(446.318)
    assert r["latency_ms"]["mean"] == pytest.approx(4.46318)
    assert r["load_ms"] == pytest.approx((0.254733 - 0.001987) * 1000)
