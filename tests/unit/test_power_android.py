"""Android battery gauge: the vendor unit and sign quirks, detected or set, and the charger refusal.

Fixtures copy /sys/class/power_supply/battery/{current_now, voltage_now, status} with the units
real gauges use: uA/uV negative while discharging (Pixel, the ABI), mA positive while
discharging (Samsung), uA positive while discharging (some Qualcomm gauges), and a phone on charge.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testbed_agent.power import Sampler, SensorError, make
from testbed_agent.power.android_battery import AndroidBattery

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"


def root(name: str) -> str:
    return str(FIXTURES / name)


def test_abi_units_negative_while_discharging() -> None:
    s = make("android_battery", {}, root("android_pixel_uA_negative"))
    assert s.read().watts == pytest.approx(0.523437 * 3.874)  # -523437 uA x 3874000 uV
    assert (s.current_unit, s.voltage_unit, s.sign) == ("uA", "uV", "negative_discharging")


def test_milliamps_positive_while_discharging_is_detected() -> None:
    s = make("android_battery", {}, root("android_samsung_mA_positive"))
    assert s.read().watts == pytest.approx(0.412 * 3.912)  # 412 mA (not 412 uA) x 3912000 uV
    assert (s.current_unit, s.sign) == ("mA", "positive_discharging")


def test_microamps_positive_while_discharging_is_detected() -> None:
    s = make("android_battery", {}, root("android_uA_positive"))
    assert s.read().watts == pytest.approx(0.612 * 4.012)
    assert (s.current_unit, s.sign) == ("uA", "positive_discharging")


def test_settings_override_detection() -> None:
    s = make("android_battery", {"current_unit": "uA", "sign": "negative_discharging"},
             root("android_samsung_mA_positive"))
    assert s.read().watts == pytest.approx(-412e-6 * 3.912)  # what the settings say, taken literally
    with pytest.raises(ValueError, match="current_unit"):
        AndroidBattery({"current_unit": "A"})


def test_detection_is_kept_for_the_run(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "android_pixel_uA_negative", tmp_path / "r")
    s = make("android_battery", {}, str(tmp_path / "r"))
    s.read()
    current = tmp_path / "r/sys/class/power_supply/battery/current_now"
    current.write_text("-8000\n")  # 8 mA in uA: a phone in deep idle
    assert s.read().watts == pytest.approx(0.008 * 3.874)  # still uA: not re-guessed as 8 A


def test_charging_phone_is_refused_with_the_reason() -> None:
    s = make("android_battery", {}, root("android_charging"))
    with pytest.raises(SensorError, match="'Charging'.*unplug"):
        s.read()
    sampler = Sampler(s, rate_hz=10)
    sampler.begin("active")
    sampler.end("active")
    record = sampler.summarize(inferences=5)
    assert record["energy_mj_per_inference"] is None and "Charging" in record["missing_reason"]


def test_no_battery(tmp_path: Path) -> None:
    ok, reason = AndroidBattery.available(str(tmp_path))
    assert not ok and reason.startswith("no /sys/class/power_supply/battery/current_now")
