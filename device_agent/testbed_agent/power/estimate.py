"""``estimate``: a model, not a measurement: power from system-wide CPU utilisation.

    watts = idle_w + (max_w - idle_w) * utilisation

``utilisation`` is the busy share of all CPU time between two reads of ``/proc/stat`` (first
line: user nice system idle iowait irq softirq steal [guest guest_nice]; busy = total - idle -
iowait; guest time is already inside user/nice). ``idle_w`` and ``max_w`` are settings, measured
once for the board with a real meter. Every reading is flagged ``estimated=True`` and the record
it feeds says ``"estimated": true``. /proc/stat ticks at 100 Hz, so at 20 Hz each interval holds
only ~5 ticks per CPU: individual readings are coarse; the average over a run is what is meant.
"""

from __future__ import annotations

import os

from .base import Reading, Sensor, SensorError, Settings, read_text, under
from .registry import register


def cpu_times(root: str) -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate ``cpu`` line of /proc/stat."""
    first = read_text(under(root, "/proc/stat")).splitlines()[0].split()
    if not first or first[0] != "cpu":
        raise SensorError("/proc/stat does not start with the aggregate 'cpu' line")
    fields = [int(x) for x in first[1:9]]
    fields += [0] * (8 - len(fields))
    total = sum(fields)
    return total - fields[3] - fields[4], total


@register
class Estimate(Sensor):
    """Linear CPU-utilisation power model (estimated, never measured)."""

    name = "estimate"
    estimated = True

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        if not os.path.exists(under(root, "/proc/stat")):
            return False, "no /proc/stat (not Linux)"
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/") -> None:
        super().__init__(settings, root)
        try:
            self.idle_w = float(self.settings["idle_w"])
            self.max_w = float(self.settings["max_w"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("estimate needs numeric settings idle_w and max_w "
                             "(measure them once with a meter)") from None
        if not 0 <= self.idle_w <= self.max_w:
            raise ValueError("estimate needs 0 <= idle_w <= max_w")
        self._prev = cpu_times(root)
        self._last: float | None = None

    def utilisation(self) -> float | None:
        """Busy share of CPU time since the last tick-advancing call; the previous share when no
        tick has elapsed since (None before the first one)."""
        busy, total = cpu_times(self.root)
        d_busy, d_total = busy - self._prev[0], total - self._prev[1]
        if d_total > 0:
            self._prev = (busy, total)
            self._last = min(max(d_busy / d_total, 0.0), 1.0)
        return self._last

    def read(self) -> Reading:
        util = self.utilisation()
        watts = None if util is None else self.idle_w + (self.max_w - self.idle_w) * util
        return Reading(watts=watts, estimated=True)

    def describe(self) -> str:
        return (f"ESTIMATE from CPU utilisation: {self.idle_w} W idle .. {self.max_w} W busy "
                "(not measured)")
