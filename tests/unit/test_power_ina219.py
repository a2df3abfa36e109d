"""INA219: the datasheet register math with recorded register values, and the ina2xx hwmon driver.

The hwmon fixture (tests/fixtures/power/ina219_hwmon) copies the real driver's paths and units:
/sys/class/hwmon/hwmonN/{name=ina219, in0_input shunt mV, in1_input bus mV, curr1_input mA,
power1_input uW, shunt_resistor micro-ohm}, next to an unrelated hwmon (cpu_thermal).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testbed_agent.power import Sampler, SensorError, make
from testbed_agent.power import ina219_regs as regs
from testbed_agent.power.ina219 import Ina219

FIXTURES = Path(__file__).parents[1] / "fixtures" / "power"


class RecordedBus:
    """An smbus2.SMBus stand-in holding recorded register values (big-endian words)."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = dict(registers)
        self.writes: list[tuple[int, int, list[int]]] = []

    def read_i2c_block_data(self, addr: int, reg: int, length: int) -> list[int]:
        assert addr == 0x40 and length == 2
        value = self.registers[reg]
        return [value >> 8, value & 0xFF]

    def write_i2c_block_data(self, addr: int, reg: int, data: list[int]) -> None:
        self.writes.append((addr, reg, data))
        self.registers[reg] = (data[0] << 8) | data[1]


def test_calibration_follows_the_datasheet_equations() -> None:
    # Current_LSB = 3.2 A / 2**15 = 97.65625 uA; Cal = trunc(0.04096 / (97.65625e-6 * 0.1)) = 4194
    c = regs.calibrate(0.1, 3.2)
    assert c.current_lsb_a == pytest.approx(97.65625e-6) and c.cal == 4194
    assert c.power_lsb_w == pytest.approx(20 * 97.65625e-6)
    # 20 uA LSB on 0.1 ohm: Cal = 0.04096 / (20e-6 * 0.1) = 20480 exactly (no float truncation slip)
    assert regs.calibrate(0.1, 20e-6 * 32768).cal == 20480
    # LSB rounded up to 100 uA (32 V / 2 A breakout): Cal 4096, power LSB 2 mW
    c = regs.calibrate(0.1, 2.0, current_lsb_a=0.0001)
    assert c.cal == 4096 and c.power_lsb_w == pytest.approx(0.002)
    # bit 0 of the calibration register is read-only 0: 0.04096 / (1e-4 * 0.0099) = 41373.7 -> 41372
    assert regs.calibrate(0.0099, 3.2, current_lsb_a=0.0001).cal == 41372
    with pytest.raises(ValueError):
        regs.calibrate(0.1, 3.2, current_lsb_a=1e-6)  # below the minimum LSB for 3.2 A


def test_recorded_registers_decode_to_the_chip_values() -> None:
    """Recorded with 0.1 ohm, Cal 4194, a 400 mA load on a 5.0 V bus."""
    c = regs.calibrate(0.1, 3.2)
    shunt, bus, current, power = 0x0FA0, 0x2712, 0x0FFF, 0x03FF
    assert regs.shunt_volts(shunt) == pytest.approx(0.040)  # 4000 x 10 uV
    assert regs.bus_volts(bus) == pytest.approx(5.000)  # (0x2712 >> 3) = 1250 x 4 mV; CNVR bit set
    assert not regs.bus_overflow(bus)
    # what the chip computes: current = 4000 * 4194 / 4096 -> 4095; power = 4095 * 1250 / 5000 -> 1023
    assert regs.expected_current_raw(shunt, c) == current
    assert regs.expected_power_raw(current, bus) == power
    assert regs.current_amps(current, c) == pytest.approx(0.39990234375)
    assert regs.power_watts(power, c) == pytest.approx(1.998046875)
    # negative shunt voltage (reverse current): 0xFF38 = -200 -> -2 mV
    assert regs.shunt_volts(0xFF38) == pytest.approx(-0.002)
    assert regs.expected_current_raw(0xFF38, c) == -204  # trunc(-200 * 4194 / 4096) = trunc(-204.8)


def test_i2c_sensor_writes_calibration_and_reads_power() -> None:
    bus = RecordedBus({regs.REG_SHUNT: 0x0FA0, regs.REG_BUS: 0x2712, regs.REG_CURRENT: 0x0FFF,
                       regs.REG_POWER: 0x03FF})
    s = Ina219({"mode": "i2c", "shunt_ohms": 0.1, "max_current_a": 3.2}, bus=bus)
    assert bus.writes == [(0x40, regs.REG_CALIBRATION, [0x10, 0x62])]  # 4194 = 0x1062, big-endian
    assert s.read().watts == pytest.approx(1.998046875)
    values = s.read_all()
    assert values["shunt_mv"] == pytest.approx(40.0) and values["bus_mv"] == pytest.approx(5000.0)
    assert values["current_ma"] == pytest.approx(399.90234375)
    bus.registers[regs.REG_BUS] = 0x2713  # OVF set: the number would be wrong, so there is none
    with pytest.raises(SensorError, match="OVF"):
        s.read()


def test_hwmon_driver_is_found_by_name_and_read_in_microwatts() -> None:
    root = str(FIXTURES / "ina219_hwmon")
    assert Ina219.available(root) == (True, None)
    s = make("ina219", {}, root)
    assert s.read().watts == pytest.approx(2.0)  # power1_input 2000000 uW
    assert s.read_all() == {"shunt_mv": 40.0, "bus_mv": 5000.0, "current_ma": 400.0, "power_mw": 2000.0}
    assert "hwmon1" in s.describe()


def test_no_ina219_says_why(tmp_path: Path) -> None:
    ok, reason = Ina219.available(str(tmp_path))
    assert not ok and "ina219" in reason and "/dev/i2c-1" in reason
    ok, reason = Ina219.available(str(tmp_path), {"mode": "hwmon"})
    assert not ok and "ina2xx" in reason


def test_vanishing_hwmon_file_is_missing_with_reason(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "ina219_hwmon", root)
    sensor = make("ina219", {}, str(root))
    sampler = Sampler(sensor, rate_hz=50)
    sampler.begin("active")
    sampler.take()
    shutil.rmtree(root / "sys/class/hwmon/hwmon1")  # driver unbound / device unplugged mid-run
    sampler.take()
    sampler.end("active")
    record = sampler.summarize(inferences=10)
    assert record["energy_mj_per_inference"] is None and record["active_w"] is None
    assert "power1_input does not exist" in record["missing_reason"]
    assert "ina219 failed after 2 samples" in record["missing_reason"]
