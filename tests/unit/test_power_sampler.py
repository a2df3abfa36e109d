"""Sampling and the power record: energy per inference reproduced by hand from the stored samples.

Sensors here are either scripted (a list of readings, with a hand-driven clock so every timestamp
is known) or real sensors over the fixture trees in tests/fixtures/power (real paths and units).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from testbed_agent.power import PowerConfig, PowerMeter, Reading, Sample, Sampler, Sensor, SensorError, make, summarize

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"
MS = 1_000_000


class Clock:
    """perf_counter_ns stand-in: the test sets ``now``."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


class Scripted(Sensor):
    """Returns the scripted readings in order; raises SensorError when told to (a value of None)."""

    name = "scripted"

    def __init__(self, watts: list[float | None], cumulative: bool = False, **kw: Any) -> None:
        super().__init__({})
        self.values = list(watts)
        self.cumulative = cumulative  # type: ignore[misc]

    @classmethod
    def available(cls, root: str = "/", settings: Any = None) -> tuple[bool, str | None]:
        return True, None

    def read(self) -> Reading:
        value = self.values.pop(0)
        if value is None:
            raise SensorError("i2c read failed: Remote I/O error")
        if self.cumulative:
            return Reading(watts=None, energy_uj=value)
        return Reading(watts=value)


def run_scripted(sensor: Sensor, points: list[tuple[str, int]], inferences: int) -> dict[str, Any]:
    """Drive a Sampler by hand: each point is (action, t_ms) with action begin/end:<phase> or take."""
    clock = Clock()
    sampler = Sampler(sensor, rate_hz=10, clock=clock)
    for action, t_ms in points:
        clock.now = t_ms * MS
        if action == "take":
            sampler.take()
        else:
            getattr(sampler, action.split(":")[0])(action.split(":")[1])
    return sampler.summarize(inferences)


IDLE_ACTIVE = [("begin:idle", 0), ("take", 100), ("end:idle", 200), ("take", 250),
               ("begin:active", 300), ("take", 400), ("take", 500), ("end:active", 600)]


def test_energy_per_inference_by_hand() -> None:
    # idle 2.0, 2.2, 2.0 W at 0/100/200 ms; 3.0 at 250 ms (outside both windows);
    # active 5.0, 6.0, 6.0, 5.0 W at 300/400/500/600 ms; 100 inferences in the active window.
    sensor = Scripted([2.0, 2.2, 2.0, 3.0, 5.0, 6.0, 6.0, 5.0])
    record = run_scripted(sensor, IDLE_ACTIVE, inferences=100)
    # idle:   ((2.0+2.2)/2*0.1 + (2.2+2.0)/2*0.1) J / 0.2 s = 0.42 / 0.2 = 2.1 W
    # active: ((5+6)/2*0.1 + (6+6)/2*0.1 + (6+5)/2*0.1) J = 1.7 J over 0.3 s = 5.6667 W
    # gross:  1.7 J / 100 = 17 mJ;  net: (5.6667 - 2.1) W * 0.3 s / 100 * 1000 = 10.7 mJ
    assert record["method"] == "trapezoid" and record["estimated"] is False
    assert record["idle_w"] == pytest.approx(2.1)
    assert record["active_w"] == pytest.approx(1.7 / 0.3)
    assert record["energy_mj_per_inference_gross"] == pytest.approx(17.0)
    assert record["energy_mj_per_inference"] == pytest.approx(10.7)
    assert record["missing_reason"] is None and record["idle_missing_reason"] is None
    assert record["active_duration_s"] == pytest.approx(0.3)
    assert record["rate_hz_achieved"] == pytest.approx(7 / 0.6)


def test_energy_reproduced_from_the_stored_samples() -> None:
    """Recompute the figure from record["samples"] and the windows only, as a reader would."""
    sensor = Scripted([1.0, 1.5, 1.25, 9.0, 4.0, 4.5, 3.5, 4.25])
    record = run_scripted(sensor, IDLE_ACTIVE, inferences=40)

    def mean_w(window: list[int]) -> float:
        pts = [(t, w) for t, w in record["samples"] if window[0] <= t <= window[1]]
        joules = 0.0
        for (t0, w0), (t1, w1) in zip(pts, pts[1:]):
            joules += (w0 + w1) / 2 * (t1 - t0) / 1e9
        return joules / ((pts[-1][0] - pts[0][0]) / 1e9)

    idle_w, active_w = mean_w(record["idle_window_ns"]), mean_w(record["active_window_ns"])
    a, b = record["active_window_ns"]
    by_hand = (active_w - idle_w) * (b - a) / 1e9 / 40 * 1000
    assert record["energy_mj_per_inference"] == pytest.approx(by_hand)
    gross_by_hand = active_w * (b - a) / 1e9 / 40 * 1000
    assert record["energy_mj_per_inference_gross"] == pytest.approx(gross_by_hand)
    assert len(record["samples"]) == 8


def test_sensor_failing_mid_run_means_missing_not_a_number() -> None:
    record = run_scripted(Scripted([2.0, 2.2, 2.0, 3.0, 5.0, None]), IDLE_ACTIVE, inferences=100)
    assert record["missing_reason"] == ("scripted failed after 5 samples: "
                                        "i2c read failed: Remote I/O error")
    for key in ("idle_w", "active_w", "energy_mj_per_inference", "energy_mj_per_inference_gross"):
        assert record[key] is None
    assert len(record["samples"]) == 5  # the real samples taken before the failure are kept


def test_counter_sensor_uses_counter_deltas() -> None:
    # cumulative uJ: idle 0 -> 200000 over 0.2 s (1 W); active 260000 -> 2060000 over 0.3 s (6 W)
    counter_uj = [0, 100_000, 200_000, 230_000, 260_000, 900_000, 1_500_000, 2_060_000]
    sensor = Scripted(counter_uj, cumulative=True)
    record = run_scripted(sensor, IDLE_ACTIVE, inferences=100)
    assert record["method"] == "counter_delta"
    assert record["idle_w"] == pytest.approx(1.0) and record["active_w"] == pytest.approx(6.0)
    assert record["energy_mj_per_inference_gross"] == pytest.approx((2_060_000 - 260_000) / 1e3 / 100)
    assert record["energy_mj_per_inference"] == pytest.approx((6.0 - 1.0) * 0.3 / 100 * 1000)
    assert record["counter_samples"][4] == [300 * MS, 260_000, None]


def test_counter_sensor_prefers_its_own_timestamps() -> None:
    # ODPM-like: the driver refreshed 0.25 s apart although the samples are 0.3 s apart
    samples = [Sample(0, None, 0.0, 10 * MS), Sample(300 * MS, None, 500_000.0, 260 * MS)]
    record = summarize(samples, sensor="pixel_odpm", windows={"active": [0, 300 * MS]}, inferences=10,
                       rate_hz_requested=10, cumulative=True)
    assert record["active_w"] == pytest.approx(0.5 / 0.25)
    assert record["energy_mj_per_inference"] is None
    assert record["idle_missing_reason"].startswith("no idle")


def test_too_few_samples_and_no_window() -> None:
    r = summarize([Sample(0, 1.0)], sensor="x", windows={"active": [0, 0]}, inferences=1,
                  rate_hz_requested=10)
    assert r["active_w"] is None and "fewer than 2" in r["missing_reason"]
    r = summarize([], sensor="x", windows={}, inferences=1, rate_hz_requested=10)
    assert r["missing_reason"] == "the active window was not marked"


def test_threaded_sampling_of_a_fixture_sensor() -> None:
    sensor = make("ina3221", {}, str(FIXTURES / "jetson_orin_nano_jp6"))
    sampler = Sampler(sensor, rate_hz=50)
    sampler.start()
    sampler.idle(0.2)
    with sampler.window("active"):
        time.sleep(0.3)
    sampler.stop()
    record = sampler.summarize(inferences=30)
    watts = 5.048 * 0.900
    assert record["idle_w"] == pytest.approx(watts) and record["active_w"] == pytest.approx(watts)
    assert record["energy_mj_per_inference"] == pytest.approx(0.0, abs=1e-9)
    gross = watts * record["active_duration_s"] / 30 * 1000
    assert record["energy_mj_per_inference_gross"] == pytest.approx(gross)
    times = [t for t, _ in record["samples"]]
    assert times == sorted(times) and len(times) >= 6  # 50 Hz for 0.5 s, loose for a busy CI box
    assert 5 <= record["rate_hz_achieved"] <= 60
    a, b = record["active_window_ns"]
    assert 0.29 <= (b - a) / 1e9 <= 0.5


def test_power_meter_end_to_end() -> None:
    meter = PowerMeter({"sensor": "ina219", "rate_hz": 40, "idle_window_s": 0.1},
                       root=str(FIXTURES / "ina219_hwmon"))
    meter.start()
    with meter.active():
        time.sleep(0.1)
    record = meter.finish(inferences=10)
    assert record["sensor"] == "ina219" and record["missing_reason"] is None
    assert record["active_w"] == pytest.approx(2.0) and record["idle_w"] == pytest.approx(2.0)
    assert record["rate_hz_requested"] == 40


def test_power_meter_never_raises() -> None:
    record = PowerMeter({"sensor": "nope"}).finish(inferences=1)
    assert "unknown power sensor 'nope'" in record["missing_reason"]
    record = PowerMeter({"sensor": "rapl", "rate_hz": -1}).finish(inferences=1)
    assert record["sensor"] == "rapl" and "rate_hz" in record["missing_reason"]
    meter = PowerMeter({"sensor": "rapl"}, root="/nonexistent")
    meter.start()
    with meter.active():
        pass
    assert "no RAPL zones" in meter.finish(1)["missing_reason"]


def test_power_config_validation() -> None:
    c = PowerConfig.from_dict({"sensor": "ina219", "rate_hz": 20, "idle_window_s": 2,
                               "settings": {"shunt_ohms": 0.1}})
    assert c == PowerConfig("ina219", 20.0, 2.0, {"shunt_ohms": 0.1})
    assert PowerConfig.from_dict(None).sensor == "none"
    for bad in ({"sensor": "x", "rate": 1}, {"sensor": ""}, {"rate_hz": 0}, {"idle_window_s": -1},
                {"settings": [1]}, {"rate_hz": "fast"}):
        with pytest.raises(ValueError):
            PowerConfig.from_dict(bad)
