"""The sensor registry, ``probe_all`` and the import rule (stdlib only, no torch/TF/testbed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed_agent.power import Reading, Sensor, make, names, probe_all, register, registry

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"
ALL = {"android_battery", "estimate", "external", "ina219", "ina3221", "none", "pi5_pmic",
       "pixel_odpm", "rapl", "tegrastats"}


def test_every_sensor_is_registered() -> None:
    assert set(names()) == ALL


def test_register_refuses_duplicate_and_nameless(request: pytest.FixtureRequest) -> None:
    request.addfinalizer(lambda: registry.SENSORS.unregister("broken_probe"))

    class Dup(Sensor):
        name = "ina219"

        @classmethod
        def available(cls, root: str = "/", settings: Any = None) -> tuple[bool, str | None]:
            return True, None

        def read(self) -> Reading:
            return Reading(watts=1.0)

    with pytest.raises(ValueError, match="already registered"):
        register(Dup)

    class Broken(Dup):
        name = "broken_probe"

        @classmethod
        def available(cls, root: str = "/", settings: Any = None) -> tuple[bool, str | None]:
            raise RuntimeError("boom")

    register(Broken)
    assert probe_all()["broken_probe"] == {"available": False, "estimated": False,
                                           "reason": "probe failed: RuntimeError: boom"}

    class Nameless(Dup):
        name = ""

    with pytest.raises(ValueError, match="no name"):
        register(Nameless)


def test_make_unknown_and_unavailable() -> None:
    with pytest.raises(KeyError, match="unknown power sensor 'joulescope'.*ina219"):
        make("joulescope", {})
    with pytest.raises(Exception, match="rapl: no RAPL zones"):
        make("rapl", {}, "/nonexistent")


def test_probe_all_on_this_machine() -> None:
    info = probe_all()
    assert set(info) == ALL
    for name, entry in info.items():
        assert set(entry) == {"available", "reason", "estimated"}
        assert entry["estimated"] == (name == "estimate")
        assert entry["available"] or entry["reason"], name  # unavailable always says why
    assert info["none"]["reason"] == "no sensor configured"
    if not Path("/sys/class/powercap/intel-rapl:0").exists():  # this CI machine: no RAPL
        assert info["rapl"] == {"available": False, "reason": info["rapl"]["reason"], "estimated": False}
        assert "no RAPL zones" in info["rapl"]["reason"]


@pytest.mark.parametrize("tree, sensor", [("ina219_hwmon", "ina219"), ("jetson_nano_jp4", "ina3221"),
                                          ("jetson_orin_nano_jp6", "ina3221"), ("rapl", "rapl"),
                                          ("pixel6_odpm", "pixel_odpm"), ("pi5", "pi5_pmic"),
                                          ("android_pixel_uA_negative", "android_battery")])
def test_probe_all_on_fixture_trees(tree: str, sensor: str) -> None:
    info = probe_all(str(FIXTURES / tree))
    assert info[sensor] == {"available": True, "reason": None, "estimated": False}
    others = {n for n, e in info.items() if e["available"]} - {sensor, "estimate"}
    assert not others


def test_import_rule() -> None:
    code = ("import sys, testbed_agent.power; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'tensorflow', 'testbed', 'smbus2', 'numpy', 'flask'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
