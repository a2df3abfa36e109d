"""Sustained runs (testbed.sustain) on synthetic samples: exact per-second bins, first and last minute,
the thermal samples placed in their seconds, the sample cap said, the ranking across variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import sustain
from testbed.errors import ConfigError

MS = 1_000_000  # ns


def _result(samples_ns: list[int], *, stop: str = "max_s_reached", thermal: dict | None = None,
            start_ns: int = 5_000_000_000) -> dict:
    span = sum(samples_ns)
    return {"measurement": {"stop_reason": stop, "timed_window_monotonic_ns": [start_ns, start_ns + span]},
            "thermal": thermal or {"available": False, "status": "not available: no thermal zone"}}


def _record(window_s: float | None) -> dict:
    return {"converter": "onnx-fp32", "threads": 1,
            "measurement": {"requested": {"sustain_s": window_s} if window_s else {"min_s": 0.5}}}


def _run(first_ms: float, second_ms: float, window_s: float = 120.0) -> list[int]:
    """Back-to-back samples: ``first_ms`` each for the first half of the window, ``second_ms`` after."""
    half = int(window_s / 2 * 1000 / first_ms)
    rest = int(window_s / 2 * 1000 / second_ms)
    return [int(first_ms * MS)] * half + [int(second_ms * MS)] * rest


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("2m", 120.0), ("30m", 1800.0), ("1h", 3600.0),
                                               (45, 45.0)])
def test_windows_accepted(text: str | int, seconds: float) -> None:
    assert sustain.parse_window(text) == seconds


@pytest.mark.parametrize("bad", ["30", "2 weeks", "m", "-1m", "5s", True])
def test_a_bad_window_says_the_forms(bad: object) -> None:
    with pytest.raises(ConfigError, match="90s, 2m, 30m, 1h"):
        sustain.parse_window(bad)  # type: ignore[arg-type]


def test_not_sustained_is_none() -> None:
    record = _record(None)
    sustain.add(record, _result([MS] * 10), [MS] * 10)
    assert record["sustain"] is None


def test_a_sustained_run_without_raw_samples_says_why() -> None:
    record = {**_record(60.0), "latency_source": "benchmark_model summary (no raw samples)"}
    sustain.add(record, _result([]), [])
    assert record["sustain"]["per_second"] == [] and "no raw samples" in record["sustain"]["missing_reason"]
    assert sustain.sustain_summary([record]) is None


def test_per_second_bins_and_first_and_last_minute() -> None:
    samples = _run(10.0, 40.0)  # 6000 samples of 10 ms, then 1500 of 40 ms
    record = _record(120.0)
    sustain.add(record, _result(samples), samples)
    s = record["sustain"]
    assert s["window_s"] == 120.0 and s["covered_s"] == pytest.approx(120.0) and s["truncated"] is None
    per = s["per_second"]
    assert [p["t_s"] for p in per] == list(range(len(per)))
    # a sample belongs to the second it ends in: 100 samples end in each of the first 60 seconds
    assert per[0]["n"] == 100 and per[59]["n"] == 100 and per[0]["p50_ms"] == 10.0 and per[0]["p90_ms"] == 10.0
    assert per[61]["n"] == 25 and per[61]["p50_ms"] == 40.0
    assert sum(p["n"] for p in per) == len(samples)
    assert s["first_minute_p50_ms"] == 10.0 and s["last_minute_p50_ms"] == 40.0
    assert s["slowdown_pct"] == 300.0 and s["compare"] == "first and last minute"
    assert per[0]["temp_c"] is None and "no thermal zone" in s["thermal"] and "cumulative sum" in s["method"]


def test_a_window_under_two_minutes_compares_halves() -> None:
    samples = _run(5.0, 10.0, window_s=60.0)
    record = _record(60.0)
    sustain.add(record, _result(samples), samples)
    s = record["sustain"]
    assert s["compare"].startswith("first and last half") and s["compare_s"] == pytest.approx(30.0)
    assert s["first_p50_ms"] == 5.0 and s["last_p50_ms"] == 10.0 and s["slowdown_pct"] == 100.0
    assert s["first_minute_p50_ms"] is None


def test_thermal_samples_land_in_their_second() -> None:
    samples = [10 * MS] * 2000  # 20 s
    start = 7_000_000_000
    thermal = {"available": True, "missing": [], "throttled": True, "before": {"t_ns": start - 500_000_000},
               "samples": [{"t_s": 0.5 + 0.5 * i, "cpu_temp_c": 50.0 + i, "freq_mhz_min": 1500.0 - 10 * i,
                            "freq_mhz_max": 1500.0, "throttled": "0x4" if i >= 30 else "0x0"}
                           for i in range(41)]}
    record = _record(20.0)
    sustain.add(record, _result(samples, thermal=thermal, start_ns=start), samples)
    per = record["sustain"]["per_second"]
    # the sample at t_s 0.5 is at the loop's start; second 0 holds it and the one at t_s 1.0
    assert per[0]["temp_c"] == 50.5 and per[0]["freq_mhz"] == 1490.0 and per[0]["throttled"] is False
    assert per[15]["throttled"] is True and record["sustain"]["thermal"] == "agent thermal samples"


def test_the_sample_cap_is_said() -> None:
    samples = [MS] * 30_000  # 30 s of a 120 s window
    record = _record(120.0)
    sustain.add(record, _result(samples, stop="max_samples_reached"), samples)
    s = record["sustain"]
    assert "at 30.0 s of the 120 s window" in s["truncated"] and "MAX_SAMPLES" in s["truncated"]
    assert s["compare"] == "first and last half (15.0 s each: 30.0 s timed, under 2 min)"
    summary = sustain.sustain_summary([record])
    assert summary is not None
    assert sustain.summary_lines(summary)[1:] == [
        "  onnx-fp32 t1: first half 1 ms -> last half 1 ms (+0 %)",
        "    note: only 30.0 s of the 120 s window timed (the agent's cap of samples was reached)"]


def _sustained(name: str, first_ms: float, last_ms: float) -> dict:
    samples = _run(first_ms, last_ms)
    record = {**_record(120.0), "converter": name}
    sustain.add(record, _result(samples), samples)
    return record


def test_ranking_holds() -> None:
    summary = sustain.sustain_summary([_sustained("a", 1.0, 1.1), _sustained("b", 2.0, 2.2),
                                       {"converter": "c", "sustain": None}])
    assert summary is not None and summary["ranking_holds"] and summary["swapped"] == []
    assert summary["ranking_first"] == ["a t1", "b t1"]
    lines = sustain.summary_lines(summary)
    assert lines[0] == "sustained 2.0 min: the ranking at the start holds at the end"
    assert lines[1] == "  a t1: first minute 1 ms -> last minute 1.1 ms (+10 %)"
    assert all(len(line) <= 100 for line in lines)


def test_ranking_swap_is_named() -> None:
    summary = sustain.sustain_summary([_sustained("a", 1.0, 4.0), _sustained("b", 2.0, 2.0),
                                       _sustained("c", 3.0, 3.0)])
    assert summary is not None and not summary["ranking_holds"]
    assert summary["ranking_last"] == ["b t1", "c t1", "a t1"]
    assert summary["swapped"] == [{"faster_at_start": "a t1", "faster_at_end": "b t1"},
                                  {"faster_at_start": "a t1", "faster_at_end": "c t1"}]
    assert "a t1 now slower than b t1" in sustain.summary_lines(summary)[0]
    assert [v["slowdown_pct"] for v in summary["variants"]] == [300.0, 0.0, 0.0]


def test_no_sustained_records_no_summary() -> None:
    assert sustain.sustain_summary([{"sustain": None}]) is None


def test_the_plot_draws_every_variant_over_time() -> None:
    from testbed.report import plots

    a, b = _sustained("a", 1.0, 4.0), _sustained("b", 2.0, 2.0)
    for rec in (a, b):  # a board with a temperature: the second panel
        for p in rec["sustain"]["per_second"]:
            p["temp_c"] = 50.0 + p["t_s"] / 10
        rec["sustain"]["per_second"][100]["throttled"] = True
    curves = {"a": a["sustain"]["per_second"], "b": b["sustain"]["per_second"]}
    fig = plots.sustain_figure(curves, "board: p50 latency per second")
    assert fig is not None and len(fig.axes) == 2
    latency = fig.axes[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    ys = latency.lines[0].get_ydata()
    assert ys[0] == 1.0 and ys[-1] == 4.0
    assert plots.sustain({"a": []}, "nothing") is None
    svg = plots.sustain(curves, "board: p50 latency per second")
    assert svg is not None and svg.startswith("<svg")


def test_a_plan_says_sustain_and_the_request_times_the_whole_window(tmp_path: Path) -> None:
    from testbed import profiles
    from testbed.engine import plan as P
    from testbed.engine.request import SustainedMeasure, effective_measure

    plan = P.from_dict({"devices": ["local"], "models": ["m"], "measure": {"sustain": "2m"}})
    options = P.deploy_options(plan, 1, None)
    assert options.sustain_s == 120.0
    measure = effective_measure(profiles.load("local"), options)
    assert isinstance(measure, SustainedMeasure) and measure.to_json()["sustain_s"] == 120.0
    assert (measure.min_s, measure.max_s, measure.ci_target_pct, measure.iterations) == (120.0, 120.0, None, 1)
    assert measure.timeout_s >= 120.0 + 60.0
    bad = tmp_path / "p.yaml"
    bad.write_text("devices: [local]\nmodels: [m]\nmeasure: {sustain: 2 weeks}\n")
    with pytest.raises(ConfigError, match=r"key 'measure.sustain'.*90s, 2m, 30m, 1h"):
        P.load(bad)


def test_deploy_options_take_sustain_and_refuse_iterations_with_it() -> None:
    from testbed.deploy_options import deploy_options

    assert deploy_options(sustain="90s").sustain_s == 90.0 and deploy_options().sustain_s is None
    with pytest.raises(ConfigError, match="leave out iterations"):
        deploy_options(sustain="2m", iterations=100)
