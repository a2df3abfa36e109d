"""``external``: a hook for a meter outside the board (Joulescope, Otii, a USB power meter).

The agent cannot read such a meter itself; something else must. Two ways in, nothing else:

* setting ``path``: a file a meter bridge keeps rewriting with one line ``<unix_time_ns> <watts>``;
  a reading older than ``max_age_s`` (default 1.0) is refused as stale;
* ``reader=`` (from code only): a callable returning watts.

Without either, ``available()`` says "no external meter configured". Readings are never invented.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .base import Reading, Sensor, SensorError, Settings, read_text, under
from .registry import register


@register
class External(Sensor):
    """Power from an external meter, through a bridge file or an injected reader."""

    name = "external"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        path = (settings or {}).get("path")
        if not path:
            return False, ("no external meter configured "
                           "(set power.settings.path to a meter bridge file)")
        if not os.path.exists(under(root, path)):
            return False, f"external meter file {path} does not exist (is the meter bridge running?)"
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/", *,
                 reader: Callable[[], float] | None = None) -> None:
        super().__init__(settings, root)
        if reader is None and not self.settings.get("path"):
            raise SensorError("no external meter configured")
        self.reader = reader
        self.path = under(root, self.settings["path"]) if self.settings.get("path") else None
        self.max_age_s = float(self.settings.get("max_age_s", 1.0))

    def read(self) -> Reading:
        if self.reader is not None:
            return Reading(watts=float(self.reader()))
        assert self.path is not None
        text = read_text(self.path)
        try:
            stamp_ns, watts = text.split()[:2]
            age_s = (time.time_ns() - int(stamp_ns)) / 1e9
            value = float(watts)
        except ValueError:
            raise SensorError(f"{self.path} should hold '<unix_time_ns> <watts>', "
                              f"not {text[:40]!r}") from None
        if age_s > self.max_age_s:
            raise SensorError(f"external meter reading is {age_s:.1f} s old (bridge stopped?)")
        return Reading(watts=value)

    def describe(self) -> str:
        return f"external meter ({self.path or 'injected reader'})"
