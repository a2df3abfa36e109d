"""``pixel_odpm``: Google Pixel On-Device Power Monitor (s2mpg1x PMICs), cumulative energy counters.

File: ``/sys/bus/iio/devices/iio:deviceN/energy_value`` (one per PMIC), as the odpm driver prints it::

    t=<measurement timestamp, ms since boot>
    CH0(T=<channel measurement duration, ms>)[S10M_VDD_TPU], <accumulated energy, uWs>
    ...

uWs = uJ. The accumulator is a u64 printed with ``%ld``, so past 2**63 it prints negative; values
are taken modulo 2**64 and deltas unwrapped modulo 2**64. A channel whose counter drops by an
implausible amount (more than ``max_plausible_w``, default 100 W, over the interval) or whose rail
changes was reset or reassigned: that is a SensorError, not a number.

The reading is the sum of the selected channels (setting ``rails``: schematic names; default
every channel of every ODPM device). Each PMIC measures only the 8 rails selected for its
channels (SoC bucks, memory, and on Pixel 6 shunts such as VSYS_PWR_DISPLAY / VSYS_PWR_MODEM):
the sum is not the whole phone's power (other rails, battery and charger losses are outside).
Power per reading comes from the counter delta over the driver's own ``t=`` timestamps; ``None``
when the driver has not refreshed since the previous read (it caches for ~20 ADC samples).
"""

from __future__ import annotations

import glob
import re

from .base import Reading, Sensor, SensorError, Settings, counter_delta, read_text, under
from .registry import register

MODULUS = 2**64
_CH = re.compile(r"^CH(\d+)\(T=(-?\d+)\)\[([^\]]*)\],\s*(-?\d+)$")


def parse_energy_value(text: str) -> tuple[int, list[tuple[int, str, int]]]:
    """``(t_ms, [(channel, rail, energy_uws mod 2**64), ...])`` from an energy_value file."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("t="):
        raise SensorError(f"energy_value does not start with t=<ms>: {text[:40]!r}")
    t_ms = int(lines[0][2:])
    channels = []
    for ln in lines[1:]:
        m = _CH.match(ln)
        if not m:
            raise SensorError(f"unexpected energy_value line: {ln[:60]!r}")
        channels.append((int(m.group(1)), m.group(3), int(m.group(4)) % MODULUS))
    return t_ms, channels


def find_devices(root: str) -> list[str]:
    """Every ``energy_value`` file under /sys/bus/iio/devices."""
    return sorted(glob.glob(under(root, "/sys/bus/iio/devices/iio:device*/energy_value")))


@register
class PixelOdpm(Sensor):
    """Sum of the selected ODPM channels, as a cumulative energy counter."""

    name = "pixel_odpm"
    cumulative = True

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        files = find_devices(root)
        if not files:
            return False, "no /sys/bus/iio/devices/iio:device*/energy_value (not a Pixel with ODPM)"
        try:
            rails = {rail for f in files for _, rail, _ in parse_energy_value(read_text(f))[1]}
        except SensorError as exc:  # often SELinux: only the power HAL may read energy_value
            return False, str(exc).removeprefix(root.rstrip("/"))
        missing = set((settings or {}).get("rails") or ()) - rails
        if missing:
            return False, f"no ODPM channel for {sorted(missing)} (channels: {sorted(rails)})"
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        super().__init__(settings, root)
        self.files = find_devices(root)
        rails = self.settings.get("rails")
        self.rails: set[str] | None = set(rails) if rails else None
        self.max_plausible_w = float(self.settings.get("max_plausible_w", 100.0))
        self._prev: dict[tuple[str, int], tuple[str, int]] = {}
        self._prev_t_ms: float | None = None
        self._total_uj = 0

    def read(self) -> Reading:
        snapshots = [(f, *parse_energy_value(read_text(f))) for f in self.files]
        t_ms = sum(s[1] for s in snapshots) / len(snapshots)
        dt_s = 0.0 if self._prev_t_ms is None else (t_ms - self._prev_t_ms) / 1e3
        added = 0
        for f, _, channels in snapshots:
            for ch, rail, value in channels:
                if self.rails is not None and rail not in self.rails:
                    continue
                prev = self._prev.get((f, ch))
                if prev is not None:
                    if prev[0] != rail:
                        raise SensorError(f"ODPM CH{ch} changed from {prev[0]} to {rail} mid-run")
                    delta = counter_delta(prev[1], value, MODULUS)
                    if delta > self.max_plausible_w * 1e6 * max(dt_s, 1.0):
                        raise SensorError(f"ODPM CH{ch} [{rail}] counter went back from {prev[1]} to "
                                          f"{value}: the counter was reset")
                    added += delta
                self._prev[(f, ch)] = (rail, value)
        first = self._prev_t_ms is None
        self._total_uj += added
        self._prev_t_ms = t_ms
        watts = None if first or dt_s <= 0 else added / dt_s / 1e6
        return Reading(watts=watts, energy_uj=float(self._total_uj), counter_t_ns=int(t_ms * 1e6))

    def describe(self) -> str:
        which = ", ".join(sorted(self.rails)) if self.rails else "all channels"
        return f"Pixel ODPM energy counters ({which}; the selected rails, not the whole phone)"
