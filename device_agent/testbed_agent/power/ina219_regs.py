"""INA219 register math, as in the TI datasheet (SBOS448, section 8.5 "Programming").

Registers (16 bit, big-endian on the wire):
  0x00 configuration, 0x01 shunt voltage, 0x02 bus voltage, 0x03 power, 0x04 current,
  0x05 calibration.

  shunt voltage: signed two's complement, LSB 10 uV.
  bus voltage:   bits 15..3 = the voltage, LSB 4 mV; bit 1 CNVR (conversion ready),
                 bit 0 OVF (the power/current calculation overflowed).
  calibration:   Current_LSB = max_expected_current_a / 2**15                (equation 2)
                 Cal = trunc(0.04096 / (Current_LSB * R_shunt_ohms))          (equation 1)
                 bit 0 of the register is read-only 0, so Cal is written with bit 0 cleared.
  current:       signed, = shunt_raw * Cal / 4096, in units of Current_LSB   (equation 4)
  power:         unsigned, = current_raw * bus_raw / 5000, in units of Power_LSB = 20 * Current_LSB
                                                                              (equations 3, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

REG_CONFIG = 0x00
REG_SHUNT = 0x01
REG_BUS = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05

SHUNT_LSB_V = 10e-6
BUS_LSB_V = 4e-3
CAL_CONSTANT = 0.04096


@dataclass(frozen=True)
class Calibration:
    """The calibration for one shunt: what to write to 0x05 and the LSBs to scale 0x03/0x04."""

    shunt_ohms: float
    current_lsb_a: float
    cal: int

    @property
    def power_lsb_w(self) -> float:
        """Power register LSB: 20 x Current_LSB (datasheet equation 3)."""
        return 20.0 * self.current_lsb_a


def calibrate(shunt_ohms: float, max_current_a: float,
              current_lsb_a: float | None = None) -> Calibration:
    """Datasheet equations 1-2. ``current_lsb_a`` may be rounded up from the minimum
    (max_current_a / 2**15) to a round number, as the datasheet suggests."""
    if shunt_ohms <= 0 or max_current_a <= 0:
        raise ValueError("ina219: shunt_ohms and max_current_a must be > 0")
    minimum = max_current_a / 32768.0
    lsb = minimum if current_lsb_a is None else float(current_lsb_a)
    if lsb < minimum * (1 - 1e-9):
        raise ValueError(f"ina219: current_lsb_a {lsb} is below the minimum {minimum} "
                         f"for {max_current_a} A")
    cal = int(CAL_CONSTANT / (lsb * shunt_ohms) + 1e-6) & 0xFFFE  # trunc; 1e-6 absorbs float error
    if not 0 < cal <= 0xFFFE:
        raise ValueError(f"ina219: calibration {cal} out of range; check shunt_ohms and max_current_a")
    return Calibration(shunt_ohms=shunt_ohms, current_lsb_a=lsb, cal=cal)


def signed16(raw: int) -> int:
    """A 16-bit register value as two's complement."""
    raw &= 0xFFFF
    return raw - 0x10000 if raw & 0x8000 else raw


def shunt_volts(raw: int) -> float:
    """Register 0x01 in volts."""
    return signed16(raw) * SHUNT_LSB_V


def bus_volts(raw: int) -> float:
    """Register 0x02 in volts (bits 15..3)."""
    return (raw >> 3) * BUS_LSB_V


def bus_overflow(raw: int) -> bool:
    """OVF, bit 0 of register 0x02: the current or power calculation is out of range."""
    return bool(raw & 0x1)


def current_amps(raw: int, calib: Calibration) -> float:
    """Register 0x04 in amperes."""
    return signed16(raw) * calib.current_lsb_a


def power_watts(raw: int, calib: Calibration) -> float:
    """Register 0x03 in watts."""
    return (raw & 0xFFFF) * calib.power_lsb_w


def expected_current_raw(shunt_raw: int, calib: Calibration) -> int:
    """What the chip computes into 0x04 from 0x01 (equation 4), truncated toward zero."""
    return int(signed16(shunt_raw) * calib.cal / 4096)


def expected_power_raw(current_raw: int, bus_raw: int) -> int:
    """What the chip computes into 0x03 (equation 5)."""
    return int(abs(signed16(current_raw)) * (bus_raw >> 3) / 5000)
