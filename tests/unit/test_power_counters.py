"""Cumulative energy counters: RAPL and Pixel ODPM, including wraparound and resets.

Fixtures copy the real files: /sys/class/powercap/intel-rapl:*/{name, energy_uj (uJ),
max_energy_range_uj} (with core/uncore/dram sub-zones, psys and an intel-rapl-mmio duplicate),
and /sys/bus/iio/devices/iio:deviceN/energy_value as the odpm driver prints it (t=<ms>, then
CHn(T=<ms>)[rail], <uWs>). Tests that advance a counter work on a copy of the tree.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from testbed_agent.power import SensorError, make, probe_all
from testbed_agent.power import rapl as rapl_mod
from testbed_agent.power.pixel_odpm import PixelOdpm, parse_energy_value
from testbed_agent.power.rapl import Rapl, find_zones

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"
POWERCAP = "sys/class/powercap"
IIO = "sys/bus/iio/devices"


@pytest.fixture
def rapl_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "rapl", tmp_path / "r")
    return tmp_path / "r"


@pytest.fixture
def odpm_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "pixel6_odpm", tmp_path / "r")
    return tmp_path / "r"


def test_rapl_zones_default_to_packages_only() -> None:
    zones = find_zones(str(FIXTURES / "rapl"))
    assert set(zones) == {"package-0", "package-0/core", "package-0/uncore", "package-0/dram", "psys"}
    s = make("rapl", {}, str(FIXTURES / "rapl"))
    assert list(s.zones) == ["package-0"]  # not core (inside it), not psys, not the mmio duplicate
    assert s.cumulative


def test_rapl_wraparound(rapl_root: Path) -> None:
    s = make("rapl", {"zones": ["package-0", "package-0/dram"]}, str(rapl_root))
    first = s.read()
    assert first.energy_uj == 0 and first.watts is None
    (rapl_root / POWERCAP / "intel-rapl:0/energy_uj").write_text("42100\n")  # wrapped past 262143328850
    (rapl_root / POWERCAP / "intel-rapl:0:2/energy_uj").write_text("18456011233\n")  # +10000
    second = s.read()
    # (262143328850 - 262143299710) + 42100 = 71240 uJ, plus 10000 uJ of DRAM
    assert second.energy_uj == 71240 + 10000
    assert second.watts is not None and second.watts > 0


def test_rapl_root_only_energy_uj_is_reported(rapl_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what a non-root user sees on Linux >= 5.10
    monkeypatch.setattr(rapl_mod, "_readable", lambda path: False)
    ok, reason = Rapl.available(str(rapl_root))
    assert not ok and "root" in reason and "5.10" in reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files anyway")
def test_rapl_root_only_with_real_permissions(rapl_root: Path) -> None:
    (rapl_root / POWERCAP / "intel-rapl:0/energy_uj").chmod(0)  # like root:root 0400 seen by a user
    ok, reason = Rapl.available(str(rapl_root))
    assert not ok and "5.10" in reason


def test_rapl_unavailable_on_this_machine() -> None:
    info = probe_all()
    if os.path.isdir("/sys/class/powercap/intel-rapl:0") and info["rapl"]["available"]:
        pytest.skip("this machine has readable RAPL")
    assert info["rapl"]["available"] is False and info["rapl"]["reason"]


def _advance_odpm(root: Path, device: int, dt_ms: int, add: dict[str, int]) -> None:
    """Rewrite energy_value as the driver would after dt_ms: every timestamp moves, counters grow."""
    path = root / IIO / f"iio:device{device}/energy_value"
    out = []
    for ln in path.read_text().splitlines():
        if ln.startswith("t="):
            out.append(f"t={int(ln[2:]) + dt_ms}")
            continue
        m = re.match(r"CH(\d+)\(T=(\d+)\)\[(.+)\], (-?\d+)", ln)
        assert m
        ch, t, rail, value = m.groups()
        value_u = (int(value) + add.get(rail, 0)) % 2**64
        printed = value_u - 2**64 if value_u >= 2**63 else value_u  # the driver prints u64 with %ld
        out.append(f"CH{ch}(T={int(t) + dt_ms})[{rail}], {printed}")
    path.write_text("\n".join(out) + "\n")


def test_odpm_parse_and_power_from_driver_timestamps(odpm_root: Path) -> None:
    text = (FIXTURES / "pixel6_odpm" / IIO / "iio:device0/energy_value").read_text()
    t_ms, channels = parse_energy_value(text)
    assert t_ms == 14340512 and channels[0] == (0, "S10M_VDD_TPU", 1014458738) and len(channels) == 8
    s = make("pixel_odpm", {"rails": ["S10M_VDD_TPU", "S2S_VDD_G3D"]}, str(odpm_root))
    first = s.read()
    assert first.watts is None and first.energy_uj == 0 and first.counter_t_ns is not None
    _advance_odpm(odpm_root, 0, 100, {"S10M_VDD_TPU": 150_000, "S4M_VDD_CPUCL0": 999_999})
    _advance_odpm(odpm_root, 1, 100, {"S2S_VDD_G3D": 50_000})
    second = s.read()
    assert second.energy_uj == 200_000  # uWs = uJ; the unselected CPU rail is not counted
    assert second.watts == pytest.approx(200_000 / 0.1 / 1e6)  # 2.0 W over the driver's 100 ms
    assert second.counter_t_ns - first.counter_t_ns == 100_000_000


def test_odpm_no_refresh_gives_no_power(odpm_root: Path) -> None:
    s = make("pixel_odpm", {}, str(odpm_root))
    s.read()
    again = s.read()  # the driver caches: same t=, same counters
    assert again.watts is None and again.energy_uj == 0


def test_odpm_wraparound_of_the_printed_u64(odpm_root: Path) -> None:
    path = odpm_root / IIO / "iio:device0/energy_value"
    path.write_text(path.read_text().replace("], 1014458738", f"], {2**63 - 500}"))
    s = make("pixel_odpm", {"rails": ["S10M_VDD_TPU"]}, str(odpm_root))
    s.read()
    _advance_odpm(odpm_root, 0, 50, {"S10M_VDD_TPU": 800})
    _advance_odpm(odpm_root, 1, 50, {})
    assert "], -9223372036854775508" in path.read_text()  # 2**63 + 300 printed with %ld
    assert s.read().energy_uj == 800


def test_odpm_counter_reset_is_an_error_not_a_number(odpm_root: Path) -> None:
    s = make("pixel_odpm", {}, str(odpm_root))
    s.read()
    path = odpm_root / IIO / "iio:device0/energy_value"
    path.write_text(path.read_text().replace("], 1014458738", "], 1200"))  # channel reassigned -> 0
    with pytest.raises(SensorError, match="reset"):
        s.read()


def test_odpm_rail_swap_is_an_error(odpm_root: Path) -> None:
    s = make("pixel_odpm", {}, str(odpm_root))
    s.read()
    path = odpm_root / IIO / "iio:device1/energy_value"
    path.write_text(path.read_text().replace("[L9S_GNSS_CORE]", "[S8M_LLDO2]"))
    with pytest.raises(SensorError, match="changed from L9S_GNSS_CORE to S8M_LLDO2"):
        s.read()


def test_odpm_availability(tmp_path: Path) -> None:
    assert PixelOdpm.available(str(FIXTURES / "pixel6_odpm")) == (True, None)
    ok, reason = PixelOdpm.available(str(FIXTURES / "pixel6_odpm"), {"rails": ["VDD_NOPE"]})
    assert not ok and "VDD_NOPE" in reason
    ok, reason = PixelOdpm.available(str(tmp_path))
    assert not ok and "energy_value" in reason
