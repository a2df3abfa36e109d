"""``ina3221``: the Jetson on-module INA3221 power monitors, chosen by rail label.

Two sysfs layouts:

* JetPack 4 (``ina3221x`` IIO driver):
  ``/sys/bus/i2c/drivers/ina3221x/<bus>-0040/iio:device0/`` with ``rail_name_N``,
  ``in_power N_input`` (mW), ``in_current N_input`` (mA), ``in_voltage N_input`` (mV)
  (the files are ``in_powerN_input`` etc.; power is read directly).
* JetPack 5/6 (mainline ``ina3221`` hwmon driver):
  ``/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmonK/`` with ``inN_label``, ``inN_input`` (bus mV),
  ``currN_input`` (mA); power = mV x mA / 1e6 W.

Settings: ``rail`` (a label). The default is the board input rail (``VDD_IN`` on Xavier NX/Orin,
``POM_5V_IN`` on Nano): one rail, never a sum of rails (the sub-rails are inside the input rail,
so summing them with it would double-count).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from .base import Reading, Sensor, SensorError, Settings, read_number, read_text, under
from .registry import register

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
OLD_GLOB = "/sys/bus/i2c/drivers/ina3221x/*-004*/iio:device*"
NEW_GLOB = "/sys/bus/i2c/drivers/ina3221/*-004*/hwmon/hwmon*"


@dataclass(frozen=True)
class Rail:
    """One labelled channel and where its files are."""

    label: str
    power_mw_file: str | None = None   # old layout
    voltage_mv_file: str | None = None
    current_ma_file: str | None = None

    def watts(self) -> float:
        if self.power_mw_file is not None:
            return read_number(self.power_mw_file) / 1e3
        assert self.voltage_mv_file and self.current_ma_file
        return read_number(self.voltage_mv_file) * read_number(self.current_ma_file) / 1e6


def find_rails(root: str) -> dict[str, Rail]:
    """Every labelled rail of every INA3221 under ``root`` (both layouts), label -> Rail."""
    rails: dict[str, Rail] = {}
    for d in sorted(glob.glob(under(root, OLD_GLOB))):
        for name_file in sorted(glob.glob(os.path.join(d, "rail_name_*"))):
            n = name_file.rsplit("_", 1)[1]
            label = _label(name_file)
            if label:
                power_file = os.path.join(d, f"in_power{n}_input")
                rails.setdefault(label, Rail(label, power_mw_file=power_file))
    for d in sorted(glob.glob(under(root, NEW_GLOB))):
        for label_file in sorted(glob.glob(os.path.join(d, "in*_label"))):
            n = os.path.basename(label_file)[2:-len("_label")]
            label = _label(label_file)
            if label and os.path.exists(os.path.join(d, f"curr{n}_input")):
                rails.setdefault(label, Rail(label, voltage_mv_file=os.path.join(d, f"in{n}_input"),
                                             current_ma_file=os.path.join(d, f"curr{n}_input")))
    return rails


def _label(path: str) -> str | None:
    try:
        label = read_text(path)
    except SensorError:
        return None
    return None if not label or label.upper() == "NC" else label


def choose_rail(rails: dict[str, Rail], wanted: str | None) -> Rail:
    """The rail named ``wanted``, or the board input rail; SensorError listing the labels."""
    known = ", ".join(sorted(rails)) or "none"
    if wanted:
        if wanted not in rails:
            raise SensorError(f"no INA3221 rail labelled {wanted!r} (rails: {known})")
        return rails[wanted]
    for label in INPUT_RAILS:
        if label in rails:
            return rails[label]
    raise SensorError(f"no board input rail ({' or '.join(INPUT_RAILS)}) among the INA3221 rails "
                      f"({known}); set power.settings.rail")


@register
class Ina3221(Sensor):
    """Jetson INA3221, one rail (default: the board input rail)."""

    name = "ina3221"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        rails = find_rails(root)
        if not rails:
            return False, "no INA3221 under /sys/bus/i2c/drivers/ina3221x or ina3221 (not a Jetson?)"
        try:
            choose_rail(rails, (settings or {}).get("rail"))
        except SensorError as exc:
            return False, str(exc)
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        super().__init__(settings, root)
        self.rails = find_rails(root)
        self.rail = choose_rail(self.rails, self.settings.get("rail"))

    def read(self) -> Reading:
        return Reading(watts=self.rail.watts())

    def describe(self) -> str:
        layout = "ina3221x IIO" if self.rail.power_mw_file else "ina3221 hwmon"
        return f"INA3221 rail {self.rail.label} ({layout})"
