"""Thermal and DVFS watch (testbed_agent.thermal) on fixture trees.

The trees under tests/fixtures/thermal/ copy the real kernel paths and units (thermal zones in
m°C, cpufreq in kHz, x86 throttle counters); `vcgencmd get_throttled` output is fed through the
injectable command runner from the captured text files. See tests/fixtures/thermal/README.md.
Cooldown runs on an injected clock and sleep: no test waits for real.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed_agent.thermal import ThermalWatch, cooldown, summarize
from testbed_agent.thermal_reader import ThermalReader
from testbed_agent.vcgencmd import decode_throttled, parse_throttled

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "thermal"


def tree(name: str) -> str:
    return str(FIXTURES / name)


def copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def vcgencmd(*outputs: str) -> Callable[[list[str]], str | None]:
    """A command runner answering `vcgencmd get_throttled` with the fixture files in turn
    (the last one repeats)."""
    texts = [(FIXTURES / "pi4" / "vcgencmd" / f"get_throttled_{o}.txt").read_text() for o in outputs]
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str | None:
        assert argv == ["vcgencmd", "get_throttled"]
        calls.append(argv)
        return texts[min(len(calls) - 1, len(texts) - 1)]

    return run


def set_temp(root: Path, zone: int, millideg: int) -> None:
    (root / f"sys/class/thermal/thermal_zone{zone}/temp").write_text(f"{millideg}\n")


def test_throttled_bits() -> None:
    assert parse_throttled("throttled=0x50005\n") == 0x50005
    assert parse_throttled("error=1 error_msg=\"Command not registered\"") is None
    decoded = decode_throttled(0x50005)
    assert decoded["raw"] == "0x50005"
    assert decoded["now"] == ["under-voltage detected", "currently throttled"]
    assert decoded["since_boot"] == ["under-voltage has occurred", "throttling has occurred"]
    assert decode_throttled(0xE0008) == {
        "raw": "0xe0008", "now": ["soft temperature limit active"],
        "since_boot": ["ARM frequency capping has occurred", "throttling has occurred",
                       "soft temperature limit has occurred"]}
    assert decode_throttled(0) == {"raw": "0x0", "now": [], "since_boot": []}


def test_raspberry_pi_zone_cpufreq_and_vcgencmd() -> None:
    reader = ThermalReader(tree("pi4"), run=vcgencmd("ok"))
    snap = reader.snapshot()
    assert snap["cpu_temp_c"] == pytest.approx(48.312) and snap["cpu_zone"] == "cpu-thermal"
    assert snap["freq_mhz"] == {f"cpu{i}": 1500.0 for i in range(4)}
    assert snap["governors"] == {f"cpu{i}": "ondemand" for i in range(4)}
    assert snap["throttled"] == {"raw": "0x0", "now": [], "since_boot": []}
    assert reader.can_tell_throttling()  # vcgencmd answers


def test_raspberry_pi_throttled_during_the_run() -> None:
    """Before: clean. During: the soft temperature limit. After: the sticky bits remain."""
    reader = ThermalReader(tree("pi4"), run=vcgencmd("ok", "ok", "hot"))
    before = reader.snapshot()
    samples = [reader.sample(), reader.sample()]
    after = reader.snapshot()
    record = summarize(reader, before, samples, after)
    assert record["throttled"] is True
    assert "vcgencmd get_throttled: soft temperature limit active" in record["throttle_reasons"]
    assert ("vcgencmd get_throttled: throttling has occurred (during this run)"
            in record["throttle_reasons"])
    assert record["governor"] == "ondemand"


def test_raspberry_pi_sticky_bits_from_before_the_run_do_not_count() -> None:
    reader = ThermalReader(tree("pi4"), run=vcgencmd("hot"))
    hot = reader.snapshot()
    hot["throttled"] = decode_throttled(0xE0000)  # occurred earlier since boot, nothing now
    record = summarize(reader, hot, [], hot)
    assert record["throttled"] is False and record["throttle_reasons"] == []


def test_raspberry_pi_under_voltage() -> None:
    reader = ThermalReader(tree("pi4"), run=vcgencmd("undervolt"))
    record = summarize(reader, reader.snapshot(), [reader.sample()], reader.snapshot())
    assert record["throttled"] is True
    assert "vcgencmd get_throttled: under-voltage detected" in record["throttle_reasons"]


def test_jetson_nano_zones_and_passive_trip(tmp_path: Path) -> None:
    root = copy("jetson_nano_jp4", tmp_path)
    reader = ThermalReader(str(root))
    zones = {z["type"]: z["temp_c"] for z in reader.zones()}
    assert zones["CPU-therm"] == 41.0 and zones["GPU-therm"] == 39.5
    assert zones["PMIC-Die"] == 100.0  # the Nano's constant PMIC reading is not the CPU
    assert reader.cpu_temp() == (41.0, "CPU-therm")
    assert reader.can_tell_throttling()  # CPU-therm has a passive trip point (97 °C)
    before = reader.snapshot()
    set_temp(root, 1, 97500)  # CPU-therm heats past the trip point during the run
    record = summarize(reader, before, [reader.sample()], reader.snapshot())
    assert record["throttled"] is True
    assert record["throttle_reasons"] == [
        "CPU at 97.5 °C reached the passive trip point of CPU-therm (97.0 °C): the kernel "
        "throttles there"]
    assert record["governor"] == "schedutil" and record["during"]["cpu_temp_c_max"] == 97.5


def test_jetson_orin_clusters_and_governor() -> None:
    reader = ThermalReader(tree("jetson_orin_nano_jp6"))
    record = summarize(reader, reader.snapshot(), [reader.sample()], reader.snapshot())
    assert record["available"] is True and record["throttled"] is False
    assert record["during"]["freq_mhz_min"] == 729.6 and record["during"]["freq_mhz_max"] == 1510.4
    assert record["cpuinfo_max_freq_mhz"]["cpu5"] == 1510.4
    assert record["before"]["cpu_zone"] == "cpu-thermal"
    assert {z["type"] for z in record["before"]["zones"]} >= {"gpu-thermal", "tj-thermal"}


def test_x86_throttle_counters(tmp_path: Path) -> None:
    root = copy("x86_generic", tmp_path)
    reader = ThermalReader(str(root))
    assert reader.cpu_temp() == (52.0, "x86_pkg_temp")
    assert reader.passive_trips[str(root / "sys/class/thermal/thermal_zone1")] is None  # 0 = unset
    before = reader.snapshot()
    assert before["throttle_counts"] == {"cpu0.core": 0, "cpu0.package": 3,
                                         "cpu1.core": 0, "cpu1.package": 3}
    (root / "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count").write_text("2\n")
    record = summarize(reader, before, [], reader.snapshot())
    assert record["throttled"] is True
    assert record["throttle_reasons"] == ["cpu1.core throttle count +2 (thermal_throttle)"]
    assert record["governor"] == "powersave"


def test_generic_zones_without_a_cpu_name_or_throttle_indicator() -> None:
    reader = ThermalReader(tree("generic_zones"))
    temp, zone = reader.cpu_temp()
    assert temp == 41.5 and zone == "pch_cannonlake (hottest zone; none is named like a CPU)"
    assert [z["temp_c"] for z in reader.zones()] == [35.0, None, 41.5]  # junk reading -> None
    record = summarize(reader, reader.snapshot(), [], reader.snapshot())
    assert record["throttled"] is None and "no throttling indicator" in record["throttled_unknown_reason"]
    assert "no /sys/devices/system/cpu/cpu*/cpufreq (frequency, governor)" in record["missing"]


def test_nothing_available_says_so() -> None:
    """Like this test machine: an empty /sys/class/thermal, no cpufreq, no vcgencmd."""
    reader = ThermalReader(tree("none"))
    assert not reader.available
    watch = ThermalWatch(reader)
    watch.start()
    record = watch.stop()
    assert record["available"] is False and record["throttled"] is None
    assert record["status"].startswith("not available: no /sys/class/thermal/thermal_zone*")
    assert "no vcgencmd get_throttled (Raspberry Pi throttling flags)" in record["missing"]
    assert record["before"] is None and record["during"] is None


def test_watch_samples_in_a_thread_and_keeps_the_timed_window(tmp_path: Path) -> None:
    root = copy("pi4", tmp_path)
    reader = ThermalReader(str(root), run=vcgencmd("ok"))
    watch = ThermalWatch(reader, rate_hz=50)
    watch.start()
    deadline = time.monotonic() + 10
    while len(watch.samples) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    set_temp(root, 0, 61000)
    count = len(watch.samples)
    while len(watch.samples) < count + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    window = [watch.samples[count]["t_ns"], watch.samples[-1]["t_ns"]]
    record = watch.stop(window)
    assert record["during"]["window"] == "timed runs"
    assert record["during"]["cpu_temp_c_max"] == 61.0 and record["during"]["cpu_temp_c_min"] == 61.0
    assert record["before"]["cpu_temp_c"] == pytest.approx(48.312)
    assert record["after"]["cpu_temp_c"] == 61.0
    assert len(record["samples"]) >= 6 and all("t_s" in s for s in record["samples"])


class FakeTime:
    """An injectable clock and sleep; each sleep cools the board by ``cool_per_s``."""

    def __init__(self, root: Path, start_c: float, cool_per_s: float) -> None:
        self.now, self.root, self.temp, self.cool = 0.0, root, start_c, cool_per_s
        set_temp(root, 0, int(start_c * 1000))

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.temp -= self.cool * seconds
        set_temp(self.root, 0, int(round(self.temp * 1000)))


def test_cooldown_waits_until_below(tmp_path: Path) -> None:
    root = copy("pi4", tmp_path)
    fake = FakeTime(root, 70.0, cool_per_s=0.5)
    record = cooldown(ThermalReader(str(root)), 60.0, 120.0, clock=fake.clock, sleep=fake.sleep)
    assert record["reached"] is True and record["start_c"] == 70.0 and record["end_c"] < 60.0
    assert record["waited_s"] == pytest.approx(21.0)  # 70 -> 59.5 °C at 0.5 °C/s, 1 s polls
    assert record["zone"] == "cpu-thermal" and record["skipped"] is None


def test_cooldown_gives_up_at_its_timeout(tmp_path: Path) -> None:
    root = copy("pi4", tmp_path)
    fake = FakeTime(root, 80.0, cool_per_s=0.05)
    record = cooldown(ThermalReader(str(root)), 60.0, 30.0, clock=fake.clock, sleep=fake.sleep)
    assert record["reached"] is False and record["waited_s"] == pytest.approx(30.0)
    assert record["end_c"] == pytest.approx(78.5)


def test_cooldown_already_cool_and_without_a_sensor(tmp_path: Path) -> None:
    root = copy("pi4", tmp_path)
    fake = FakeTime(root, 45.0, cool_per_s=1)
    record = cooldown(ThermalReader(str(root)), 60.0, 30.0, clock=fake.clock, sleep=fake.sleep)
    assert record["reached"] is True and record["waited_s"] == 0.0
    none = cooldown(ThermalReader(tree("none")), 60.0, 30.0, clock=fake.clock, sleep=fake.sleep)
    assert none["reached"] is None and none["skipped"].startswith("no CPU temperature to wait on")


def test_cooldown_is_interrupted_by_shutdown(tmp_path: Path) -> None:
    root = copy("pi4", tmp_path)
    set_temp(root, 0, 90000)
    record = cooldown(ThermalReader(str(root)), 60.0, 120.0, clock=lambda: 0.0,
                      sleep=lambda s: True)
    assert record["reached"] is False and "shutting down" in record["skipped"]
