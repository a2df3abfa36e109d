"""The trust verdict on records in the shapes the agent and the host write (thermal v3+, load wire 4)."""

from __future__ import annotations

import copy
from typing import Any

from testbed import trust

QUIET_LOAD: dict[str, Any] = {
    "available": True, "method": "...", "window": "timed runs", "window_s": 1.5, "cpus": [0, 1],
    "cpus_pinned": False, "other_cpu_pct": {"mean": 3.2, "max": 6.0}, "worker_cpu_pct": 99.0,
    "worker_wait_pct": 0.4, "steal_cpu_pct": 0.0,
    "top_other": [{"pid": 71, "name": "kdamond.0", "cpu_pct": 0.9}], "top_other_window": "whole run",
    "samples": 4, "rate_hz": 2.0, "clk_tck": 100, "cost": {"sampler_cpu_s": 0.01, "sampler_cpu_pct": 0.3}}


def snap(mhz: float, governor: str = "performance") -> dict[str, Any]:
    return {"t_ns": 1, "zones": {"thermal_zone0": 50.0}, "cpu_temp_c": 50.0, "cpu_zone": "cpu-thermal",
            "freq_mhz": {"0": mhz, "1": mhz - 200}, "governors": {"0": governor, "1": governor},
            "throttle_counts": {}, "throttled": None}


def thermal(start_mhz: float = 1800.0, end_mhz: float = 1800.0, throttled: bool | None = False,
            reasons: list[str] | None = None, gov_end: str = "performance") -> dict[str, Any]:
    return {"available": True, "status": "measured", "missing": [], "cooldown": None,
            "governor": "performance", "cpuinfo_max_freq_mhz": {"0": 1800.0}, "throttled": throttled,
            "throttle_reasons": reasons or [], "throttled_unknown_reason": None,
            "before": snap(start_mhz), "after": snap(end_mhz, gov_end),
            "during": {"window": "timed runs", "samples": 3, "rate_hz": 2.0}, "samples": []}


def record(th: dict[str, Any] | None, cv: float = 3.0, ci: float = 0.8) -> dict[str, Any]:
    return {"status": "ok", "thermal": th, "latency_ms": {"p50": 1.0, "cv_pct": cv, "ci_pct": ci, "n": 200}}


STEADY_SAMPLES = [1_000_000 + (i % 7) * 10_000 for i in range(200)]


def judge(th: dict[str, Any] | None, load: dict[str, Any] | None, samples: list[int] = STEADY_SAMPLES,
          **latency: float) -> dict[str, Any]:
    rec = record(th, **latency)
    trust.add(rec, {"load": load, "samples_ns": samples})
    return rec


def test_quiet_run_is_steady() -> None:
    rec = judge(thermal(), QUIET_LOAD)
    assert rec["trust"]["verdict"] == "steady" and rec["trust"]["reasons"] == []
    assert trust.label(rec) == "steady" and trust.reason(rec) is None
    assert rec["trust"]["checks"]["other_share_pct"] == 1.6


def test_other_load_is_contended_with_figures() -> None:
    load = {**QUIET_LOAD, "other_cpu_pct": {"mean": 133.0, "max": 150.0}, "worker_wait_pct": 33.0,
            "top_other": [{"pid": 9, "name": "python", "cpu_pct": 66.0}]}
    rec = judge(thermal(), load)
    assert trust.label(rec) == "contended"
    assert trust.reason(rec) == ("other processes used 133 % of a CPU on average (66 % of the 2 CPUs "
                                 "the measurement could use; busiest: python 66 %)")
    assert "waited for a CPU 33 %" in rec["trust"]["reasons"][1]


def test_run_queue_wait_alone_is_contended_on_a_pinned_cpu() -> None:
    load = {**QUIET_LOAD, "cpus": [3], "other_cpu_pct": {"mean": 10.0, "max": 20.0},
            "worker_wait_pct": 12.0}
    assert judge(thermal(), load)["trust"]["verdict"] == "contended"


def test_run_queue_wait_among_the_workers_own_threads_is_not_contention() -> None:
    """TensorFlow's pools on 2 CPUs: its threads queue behind each other while nothing else runs."""
    load = {**QUIET_LOAD, "other_cpu_pct": {"mean": 4.0, "max": 9.0}, "worker_cpu_pct": 196.0,
            "worker_wait_pct": 31.0}
    rec = judge(thermal(), load)
    assert rec["trust"]["verdict"] == "steady" and rec["trust"]["checks"]["worker_wait_own_threads"] is True
    stolen = judge(thermal(), {**load, "steal_cpu_pct": 30.0})  # the hypervisor gave the CPUs away
    assert stolen["trust"]["verdict"] == "contended" and "waited for a CPU 31 %" in trust.reason(stolen)  # type: ignore[operator]


def test_throttling_beats_contention() -> None:
    load = {**QUIET_LOAD, "other_cpu_pct": {"mean": 150.0, "max": 190.0}}
    rec = judge(thermal(throttled=True, reasons=["vcgencmd get_throttled: soft temperature limit active"]), load)
    assert trust.label(rec) == "throttled"
    assert trust.reason(rec) == "throttled: vcgencmd get_throttled: soft temperature limit active"
    assert len(rec["trust"]["reasons"]) == 2


def test_frequency_drop_and_governor_change_are_throttled() -> None:
    rec = judge(thermal(end_mhz=1200.0), QUIET_LOAD)
    assert trust.label(rec) == "throttled" and "1800 -> 1200 MHz" in trust.reason(rec)  # type: ignore[operator]
    assert rec["trust"]["checks"]["freq_drop_pct"] == 33.3
    assert judge(thermal(end_mhz=1700.0), QUIET_LOAD)["trust"]["verdict"] == "steady"  # 5.6 %: one step
    rec = judge(thermal(gov_end="powersave"), QUIET_LOAD)
    assert "governor changed" in trust.reason(rec)  # type: ignore[operator]


def test_spread_is_noisy() -> None:
    drifting = [1_000_000 + i * 5_000 for i in range(200)]  # 1.0 -> 2.0 ms over the run
    rec = judge(thermal(), QUIET_LOAD, drifting, cv=30.0)
    assert trust.label(rec) == "noisy" and "10 consecutive blocks vary" in trust.reason(rec)  # type: ignore[operator]
    assert judge(thermal(), QUIET_LOAD, ci=7.5)["trust"]["reasons"] == [
        "the median is not pinned down: its 95 % interval is ± 7.5 %"]


def test_a_few_spikes_do_not_make_noise() -> None:
    spiky = list(STEADY_SAMPLES)
    spiky[::50] = [20_000_000] * len(spiky[::50])  # 4 preemptions of 20 ms: raw CV far above 20 %
    assert judge(thermal(), QUIET_LOAD, spiky, cv=180.0)["trust"]["verdict"] == "steady"


def test_missing_inputs_are_unchecked_not_untrusted() -> None:
    no_thermal = {"available": False, "status": "not available: no /sys/class/thermal",
                  "missing": ["no /sys/class/thermal"], "throttled": None}
    rec = judge(no_thermal, None)
    assert rec["trust"]["verdict"] == "steady"
    unchecked = rec["trust"]["unchecked"]
    assert unchecked[0] == "throttling: not available: no /sys/class/thermal"
    assert unchecked[1] == "other load: no load record (an agent before wire schema 4)"
    rec = judge(thermal(), {"available": False, "reason": "no readable /proc/stat"})
    assert "other load: no readable /proc/stat" in rec["trust"]["unchecked"]
    assert trust.label({"status": "failed", "trust": None}) == "–"


def test_thresholds_are_in_the_record() -> None:
    rec = judge(copy.deepcopy(thermal()), QUIET_LOAD)
    assert rec["trust"]["thresholds"]["other_share_pct"] == trust.OTHER_SHARE_PCT


# -- a regression verdict on a result that is not steady says so (verdicts, the verdict table) --

def cell(median_ms: float, trust_record: dict[str, Any] | None, seed: int) -> Any:
    import numpy as np

    from testbed import verdicts

    rng = np.random.default_rng(seed)
    data = verdicts.CellData(size_bytes=1000)
    data.samples_ns = [np.exp(rng.normal(np.log(median_ms * 1e6), 0.05, 1000)) for _ in range(3)]
    if trust_record is not None:
        data.trust = [trust_record]
    return data


def test_a_slowdown_on_a_contended_board_is_not_blamed_on_the_model() -> None:
    from testbed import verdicts

    contended = judge(thermal(), {**QUIET_LOAD, "other_cpu_pct": {"mean": 170.0, "max": 190.0},
                                  "top_other": [{"pid": 9, "name": "python", "cpu_pct": 85.0}]})["trust"]
    steady = judge(thermal(), QUIET_LOAD)["trust"]
    out = verdicts.cell_verdict(cell(1.0, steady, 1), cell(1.12, contended, 2))
    assert out["verdict"] == verdicts.NOISY and out["metrics"]["latency"]["would_be"] == verdicts.REGRESSED
    assert out["trust"]["current"]["verdict"] == "contended" and out["trust"]["baseline"]["verdict"] == "steady"
    assert "slower by +12" in out["reason"] and (
        "- but this result is contended (other processes used 170 % of a CPU on average (85 % of the 2 CPUs"
        in out["reason"]) and out["reason"].endswith("rerun on a quiet board before blaming the model")
    throttled = judge(thermal(end_mhz=1000.0), QUIET_LOAD)["trust"]
    out = verdicts.cell_verdict(cell(1.0, throttled, 1), cell(0.8, steady, 2))
    assert out["verdict"] == verdicts.NOISY and "but the baseline was throttled" in out["reason"]
    plain = verdicts.cell_verdict(cell(1.0, steady, 1), cell(1.12, None, 2))  # an older record: no trust
    assert plain["verdict"] == verdicts.REGRESSED and plain["trust"]["current"] is None
    # only noisy (its own samples drifted): the change's interval already holds that spread - kept, with the caveat
    noisy = {"verdict": "noisy", "reasons": ["the latency drifted: the medians of 10 consecutive blocks vary 26 % (CV)"]}
    out = verdicts.cell_verdict(cell(1.0, steady, 1), cell(1.5, noisy, 2))
    assert out["verdict"] == verdicts.REGRESSED and "would_be" not in out["metrics"]["latency"], out
    assert out["metrics"]["latency"]["untrusted"] == ["current"]
    assert "- but this result is noisy (the latency drifted" in out["reason"] and "rerun it" in out["reason"]


def test_the_verdict_table_shows_each_cells_trust_within_120_columns() -> None:
    import io

    from rich.console import Console

    from testbed.report import verdict_table

    rows = [{"device": "b", "model": "m", "converter": name, "threads": 4, "state": "done", "p50_ms": 1.123,
             "baseline_p50_ms": 1.0, "latency_change_pct": 12.3, "latency_ci_low_pct": 10.1,
             "latency_ci_high_pct": 14.5, "latency_p_value": 1e-9, "verdict": "noisy",
             "verdict_reason": "latency noisy: slower by +12.3 % - but this result is contended (...): "
                               "rerun on a quiet board before blaming the model", "trust": trust}
            for name, trust in (("onnx-torch-int8-static-qdq", "contended"), ("tflite-keras-fp32", "steady"),
                                ("executorch-xnnpack-fp32", None))]
    out = io.StringIO()
    verdict_table.render(rows, "run x vs y", Console(file=out, width=120, color_system=None))
    text = out.getvalue()
    assert "Trust" in text and "contended" in text and "steady" in text
    assert "before blaming the model" in " ".join(text.split())  # the note, wrapped, never cut
    assert max(len(line.encode()) for line in text.splitlines()) <= 120
