"""Raspberry Pi 5 PMIC, the CPU-utilisation estimate, the external-meter hook and ``none``.

The Pi 5 fixture holds recorded ``vcgencmd pmic_read_adc`` output (tests/fixtures/power/pi5/
pmic_read_adc.txt: currents in A, voltages in V, current and voltage on separate lines) and a
stand-in ``usr/bin/vcgencmd`` that prints it; the Pi 4 stand-in answers "Command not registered"
as a Pi 4 does. The estimate reads /proc/stat in its real format (USER_HZ ticks).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from testbed_agent.power import PowerMeter, Sampler, SensorError, make, probe_all
from testbed_agent.power.external import External
from testbed_agent.power.pi5_pmic import Pi5Pmic, parse_pmic

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"
PMIC_TEXT = (FIXTURES / "pi5" / "pmic_read_adc.txt").read_text()


def test_pmic_lines_pair_by_rail_name() -> None:
    pairs = parse_pmic(PMIC_TEXT)
    assert pairs["VDD_CORE"] == (0.72, 0.75012)
    assert "EXT5V" not in pairs and "BATT" not in pairs  # voltage only: no power
    assert len(pairs) == 12


def test_pmic_total_power_by_hand() -> None:
    s = Pi5Pmic({}, runner=lambda cmd: PMIC_TEXT)
    watts = s.rail_watts()
    assert watts["VDD_CORE"] == pytest.approx(0.72 * 0.75012)
    expected = sum(v * a for v, a in parse_pmic(PMIC_TEXT).values())
    assert s.read().watts == pytest.approx(expected)
    assert 1.0 < expected < 2.0  # an idle Pi 5's PMIC rails
    core = Pi5Pmic({"rails": ["VDD_CORE", "DDR_VDD2"]}, runner=lambda cmd: PMIC_TEXT)
    assert core.read().watts == pytest.approx(0.72 * 0.75012 + 1.11144 * 0.02342344)


def test_pmic_runs_vcgencmd_under_root() -> None:
    root = str(FIXTURES / "pi5")
    assert Pi5Pmic.available(root) == (True, None)
    s = make("pi5_pmic", {}, root)
    assert s.command[-1] == "pmic_read_adc" and s.command[0].startswith(root)
    assert s.read().watts == pytest.approx(sum(v * a for v, a in parse_pmic(PMIC_TEXT).values()))


def test_pmic_unavailable_on_a_pi4_and_elsewhere(tmp_path: Path) -> None:
    ok, reason = Pi5Pmic.available(str(FIXTURES / "pi4"))
    assert not ok and "Command not registered" in reason and "Raspberry Pi 5 only" in reason
    ok, reason = Pi5Pmic.available(str(tmp_path))
    assert not ok and "vcgencmd not found" in reason


def _write_stat(root: Path, busy_add: int, idle_add: int) -> None:
    stat = root / "proc/stat"
    lines = stat.read_text().splitlines()
    f = lines[0].split()
    f[1] = str(int(f[1]) + busy_add)  # user
    f[4] = str(int(f[4]) + idle_add)  # idle
    stat.write_text("\n".join([" ".join(f[:1]) + "  " + " ".join(f[1:])] + lines[1:]) + "\n")


def test_estimate_is_labelled_estimated(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "proc_stat", tmp_path / "r")
    root = tmp_path / "r"
    s = make("estimate", {"idle_w": 2.0, "max_w": 6.0}, str(root))
    first = s.read()
    assert first.estimated and first.watts is None  # no tick elapsed: no utilisation yet
    _write_stat(root, busy_add=30, idle_add=10)  # 75 % busy over 40 ticks
    r = s.read()
    assert r.estimated and r.watts == pytest.approx(2.0 + 4.0 * 0.75)
    assert s.read().watts == pytest.approx(5.0)  # no new tick: the last utilisation holds
    sampler = Sampler(s, rate_hz=10)
    sampler.begin("active")
    _write_stat(root, busy_add=0, idle_add=40)  # idle: 2.0 W
    sampler.end("active")
    record = sampler.summarize(inferences=4)
    assert record["estimated"] is True and "ESTIMATE" in record["what"]
    assert record["active_w"] == pytest.approx((5.0 + 2.0) / 2)


def test_estimate_needs_its_settings() -> None:
    with pytest.raises(ValueError, match="idle_w and max_w"):
        make("estimate", {}, str(FIXTURES / "proc_stat"))
    record = PowerMeter({"sensor": "estimate"}, root=str(FIXTURES / "proc_stat")).finish(10)
    assert record["estimated"] is True and "idle_w and max_w" in record["missing_reason"]
    assert record["energy_mj_per_inference"] is None


def test_external_meter_hook(tmp_path: Path) -> None:
    ok, reason = External.available("/")
    assert not ok and reason.startswith("no external meter configured")
    assert probe_all()["external"]["reason"].startswith("no external meter configured")
    bridge = tmp_path / "run/meter/watts"
    ok, reason = External.available(str(tmp_path), {"path": "/run/meter/watts"})
    assert not ok and "does not exist" in reason
    bridge.parent.mkdir(parents=True)
    bridge.write_text(f"{time.time_ns()} 3.25\n")
    s = make("external", {"path": "/run/meter/watts"}, str(tmp_path))
    assert s.read().watts == 3.25
    bridge.write_text(f"{time.time_ns() - 5_000_000_000} 3.25\n")  # the bridge stopped 5 s ago
    with pytest.raises(SensorError, match="old"):
        s.read()
    assert External({}, reader=lambda: 1.5).read().watts == 1.5
    with pytest.raises(SensorError, match="no external meter configured"):
        External({})


def test_none_reports_no_power() -> None:
    assert probe_all()["none"] == {"available": False, "reason": "no sensor configured",
                                   "estimated": False}
    assert probe_all()["estimate"]["estimated"] is True
    record = PowerMeter({"sensor": "none"}).finish(inferences=100)
    assert record["missing_reason"] == "none: no sensor configured"
    assert record["energy_mj_per_inference"] is None and record["samples"] == []
    assert PowerMeter(None).finish(1)["missing_reason"] == "none: no sensor configured"
