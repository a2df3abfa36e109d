"""``android_battery``: phone power from the battery fuel gauge.

Files: ``/sys/class/power_supply/battery/{current_now, voltage_now, status}``. The kernel ABI says
``current_now`` is in uA and ``voltage_now`` in uV, and Android expects negative while discharging,
but vendors differ:

* units: some gauges report mA (and/or mV). ``current_unit`` / ``voltage_unit`` = ``uA``/``mA``,
  ``uV``/``mV`` or ``auto``: |current| < 10000 is taken as mA (10 mA..10 A is a phone's range;
  below 10 mA in uA would be a phone asleep, not one running a model); voltage < 100000 is mV.
  The decision is made on the first reading and kept for the whole run.
* sign: ``sign`` = ``negative_discharging`` (Android's convention), ``positive_discharging``
  (e.g. many Samsung and some Qualcomm gauges) or ``auto``: while ``status`` is ``Discharging``,
  the sign of the first non-zero current tells.

Only a discharging phone can be measured this way: on a charger the battery current is the
charger's minus the phone's, so a reading with another ``status`` is refused with the reason.
Setting ``supply`` (default ``battery``) names another power_supply directory.
"""

from __future__ import annotations

import os

from .base import Reading, Sensor, SensorError, Settings, read_number, read_text, under
from .registry import register

MA_BELOW = 10_000
MV_BELOW = 100_000


def _dir(root: str, settings: Settings | None) -> str:
    return under(root, f"/sys/class/power_supply/{(settings or {}).get('supply', 'battery')}")


@register
class AndroidBattery(Sensor):
    """Battery discharge power: |current| x voltage while the status is Discharging."""

    name = "android_battery"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        d = _dir(root, settings)
        for f in ("current_now", "voltage_now", "status"):
            path = os.path.join(d, f)
            if not os.path.exists(path):
                return False, f"no {path.removeprefix(root.rstrip('/'))} (not an Android/Linux battery)"
            try:
                read_text(path)
            except SensorError as exc:  # SELinux denies these files to apps on many phones
                return False, str(exc).removeprefix(root.rstrip("/"))
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        super().__init__(settings, root)
        self.dir = _dir(root, settings)
        self.current_unit: str = self.settings.get("current_unit", "auto")
        self.voltage_unit: str = self.settings.get("voltage_unit", "auto")
        self.sign: str = self.settings.get("sign", "auto")
        signs = ("auto", "negative_discharging", "positive_discharging")
        for key, value, allowed in (("current_unit", self.current_unit, ("auto", "uA", "mA")),
                                    ("voltage_unit", self.voltage_unit, ("auto", "uV", "mV")),
                                    ("sign", self.sign, signs)):
            if value not in allowed:
                raise ValueError(f"android_battery: {key} must be one of {allowed}, not {value!r}")

    def read(self) -> Reading:
        status = read_text(os.path.join(self.dir, "status"))
        if status != "Discharging":
            raise SensorError(f"battery status is {status!r}, not 'Discharging': on a charger the "
                              "battery current is not the phone's consumption (unplug it; use "
                              "adb/ssh over Wi-Fi)")
        current_raw = read_number(os.path.join(self.dir, "current_now"))
        voltage_raw = read_number(os.path.join(self.dir, "voltage_now"))
        if self.current_unit == "auto" and current_raw != 0:
            self.current_unit = "mA" if abs(current_raw) < MA_BELOW else "uA"
        if self.voltage_unit == "auto" and voltage_raw != 0:
            self.voltage_unit = "mV" if abs(voltage_raw) < MV_BELOW else "uV"
        if self.sign == "auto" and current_raw != 0:
            self.sign = "positive_discharging" if current_raw > 0 else "negative_discharging"
        amps = current_raw / (1e3 if self.current_unit == "mA" else 1e6)
        volts = voltage_raw / (1e3 if self.voltage_unit == "mV" else 1e6)
        discharge_a = amps if self.sign == "positive_discharging" else -amps
        return Reading(watts=discharge_a * volts)

    def describe(self) -> str:
        return (f"battery discharge power ({os.path.basename(self.dir)}: current in "
                f"{self.current_unit}, voltage in {self.voltage_unit}, {self.sign})")
