"""Jetson power: the INA3221 in both sysfs layouts, and tegrastats lines from JetPack 4, 5 and 6.

Fixture trees copy the real paths, formats and units:
  JetPack 4 (ina3221x IIO): /sys/bus/i2c/drivers/ina3221x/<bus>-0040/iio:device0/
      rail_name_N, in_powerN_input (mW), in_currentN_input (mA), in_voltageN_input (mV)
  JetPack 6 (mainline ina3221 hwmon): /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/
      inN_label, inN_input (mV), currN_input (mA); in4-6 shunt mV and in7 "sum of shunt voltages"
The tegrastats lines are in tests/fixtures/power/tegrastats/*.txt, as the tool prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from testbed_agent.power import SensorError, make
from testbed_agent.power.ina3221 import Ina3221, find_rails
from testbed_agent.power.tegrastats import Tegrastats, parse_line

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"


def line(name: str, index: int = 0) -> str:
    return (FIXTURES / "tegrastats" / name).read_text().splitlines()[index]


def test_jetpack4_layout_reads_the_input_rail_power_in_mw() -> None:
    root = str(FIXTURES / "jetson_nano_jp4")
    assert set(find_rails(root)) == {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}
    s = make("ina3221", {}, root)
    assert s.read().watts == pytest.approx(2.532)  # in_power0_input = 2532 mW, never a sum of rails
    assert "POM_5V_IN" in s.describe() and "ina3221x" in s.describe()
    assert make("ina3221", {"rail": "POM_5V_CPU"}, root).read().watts == pytest.approx(0.424)


def test_jetpack6_layout_multiplies_mv_by_ma() -> None:
    root = str(FIXTURES / "jetson_orin_nano_jp6")
    rails = find_rails(root)
    # in7 "sum of shunt voltages" has a label but no curr7_input: not a rail
    assert set(rails) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    s = make("ina3221", {}, root)
    assert s.read().watts == pytest.approx(5.048 * 0.900)  # in1_input 5048 mV x curr1_input 900 mA
    assert make("ina3221", {"rail": "VDD_SOC"}, root).read().watts == pytest.approx(5.040 * 0.282)


def test_board_without_an_input_rail_needs_an_explicit_rail() -> None:
    root = str(FIXTURES / "jetson_agx_xavier_jp4")
    ok, reason = Ina3221.available(root)
    assert not ok and "VDD_IN" in reason and "SYS5V" in reason and "settings.rail" in reason
    assert make("ina3221", {"rail": "SYS5V"}, root).read().watts == pytest.approx(1.851)
    ok, reason = Ina3221.available(root, {"rail": "VDD_GPU_SOC"})
    assert not ok and "no INA3221 rail labelled 'VDD_GPU_SOC'" in reason


def test_no_ina3221(tmp_path: Path) -> None:
    ok, reason = Ina3221.available(str(tmp_path))
    assert not ok and "not a Jetson" in reason


def test_tegrastats_jetpack4_rails_without_unit() -> None:
    p = parse_line(line("jp4_nano.txt"))
    assert p.rails_mw == {"POM_5V_IN": (2532, 2698), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (424, 568)}
    assert p.temps_c["CPU"] == 32.5 and p.temps_c["thermal"] == 32.0 and p.temps_c["PMIC"] == 100.0
    assert "RAM" not in p.rails_mw and "SWAP" not in p.rails_mw  # 2124/3964MB is memory, not power
    p = parse_line(line("jp4_xavier_nx.txt"))
    assert p.rails_mw["VDD_IN"] == (4917, 4917) and p.rails_mw["VDD_SOC"] == (1431, 1431)


def test_tegrastats_jetpack5_6_rails_in_mw_and_offline_sensors() -> None:
    p = parse_line(line("jp6_orin_nano.txt"))
    assert p.rails_mw == {"VDD_IN": (4542, 4000), "VDD_CPU_GPU_CV": (493, 455), "VDD_SOC": (1420, 1402)}
    assert p.temps_c["tj"] == 47.375 and p.temps_c["cpu"] == 47.375
    assert p.temps_c["gpu"] is None  # -256C: the sensor is offline, not -256 degrees
    p = parse_line(line("jp5_orin_nx.txt"))
    assert p.rails_mw["VDD_IN"] == (5520, 5498)
    assert p.temps_c["GPU"] is None and p.temps_c["CV0"] is None and p.temps_c["tj"] == 47.25


def test_tegrastats_sensor_reports_the_newest_line() -> None:
    s = Tegrastats({}, start=False)
    with pytest.raises(SensorError, match="no power line"):
        s.latest(wait_s=0)
    s.feed(line("jp6_orin_nano.txt", 0))
    assert s.read().watts == pytest.approx(4.542)  # current value, not the 4000 mW average
    s.feed(line("jp6_orin_nano.txt", 1))
    assert s.read().watts == pytest.approx(7.815)
    s2 = Tegrastats({"rail": "POM_5V_IN"}, start=False)
    s2.feed(line("jp6_orin_nano.txt"))
    with pytest.raises(SensorError, match="no rail POM_5V_IN"):
        s2.read()


def test_tegrastats_sensor_runs_the_command() -> None:
    """A stand-in process prints a recorded JetPack 4 line, as `tegrastats --interval` would."""
    script = f"import sys, time; print({line('jp4_nano.txt')!r}, flush=True); time.sleep(30)"
    s = make("tegrastats", {"command": [sys.executable, "-c", script]})
    try:
        assert s.read().watts == pytest.approx(2.532)
    finally:
        s.close()


def test_tegrastats_unavailable_without_the_tool(tmp_path: Path) -> None:
    ok, reason = Tegrastats.available(str(tmp_path))
    assert not ok and "tegrastats not found" in reason
