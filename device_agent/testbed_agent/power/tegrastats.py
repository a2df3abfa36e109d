"""``tegrastats``: parse NVIDIA's tegrastats lines for rail power and temperatures.

Rails, current/average since tegrastats started:
  JetPack 4:   ``POM_5V_IN 2532/2698`` (mW, no unit written)
  JetPack 5/6: ``VDD_IN 4542mW/4000mW``
Temperatures: ``tj@47.375C``; ``-256C`` means the sensor is offline (e.g. the GPU powered off) -> None.

The sensor runs ``tegrastats --interval <interval_ms>`` (setting ``interval_ms``, default 100;
``command`` overrides the whole command line) and reports the newest line's *current* value of
``rail`` (default: the board input rail VDD_IN / POM_5V_IN). Between lines the value repeats:
the effective rate is at most 1000 / interval_ms Hz.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .base import Reading, Sensor, SensorError, Settings, find_program
from .registry import register

_RAIL = re.compile(r"(?<!\S)([A-Z][A-Z0-9_]*) (\d+)(mW)?/(\d+)(?:mW)?(?=\s|$)")
_TEMP = re.compile(r"(?<!\S)([A-Za-z][\w]*)@(-?\d+(?:\.\d+)?)C(?=\s|$)")
OFFLINE_C = -256.0
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


@dataclass
class TegraLine:
    """One parsed line: rail -> (current_mw, average_mw) and sensor -> celsius (None = offline)."""

    rails_mw: dict[str, tuple[float, float]] = field(default_factory=dict)
    temps_c: dict[str, float | None] = field(default_factory=dict)


def parse_line(line: str) -> TegraLine:
    """Parse one tegrastats line (any JetPack); unknown fields are ignored."""
    out = TegraLine()
    for name, cur, _unit, avg in _RAIL.findall(line):
        out.rails_mw[name] = (float(cur), float(avg))
    for name, value in _TEMP.findall(line):
        celsius = float(value)
        out.temps_c[name] = None if celsius <= OFFLINE_C else celsius
    return out


def input_rail(parsed: TegraLine, wanted: str | None) -> str:
    """The rail to report: ``wanted`` or the board input rail; SensorError when absent."""
    names = [wanted] if wanted else list(INPUT_RAILS)
    for name in names:
        if name in parsed.rails_mw:
            return name
    raise SensorError(f"tegrastats line has no rail {' or '.join(names)} "
                      f"(rails: {', '.join(parsed.rails_mw) or 'none'})")


@register
class Tegrastats(Sensor):
    """Board power from a running ``tegrastats`` process."""

    name = "tegrastats"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        if (settings or {}).get("command") or find_program("tegrastats", root):
            return True, None
        return False, "tegrastats not found (not a Jetson with JetPack)"

    def __init__(self, settings: Settings | None = None, root: str = "/", *,
                 start: bool = True) -> None:
        super().__init__(settings, root)
        self.interval_ms = int(self.settings.get("interval_ms", 100))
        self.rail: str | None = self.settings.get("rail")
        self._latest: tuple[float, TegraLine] | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        if start:
            self._start()

    def _start(self) -> None:
        cmd = self.settings.get("command") or [find_program("tegrastats", self.root) or "tegrastats",
                                                "--interval", str(self.interval_ms)]
        try:
            self._proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True, bufsize=1)
        except OSError as exc:
            raise SensorError(f"cannot start tegrastats: {exc.strerror or exc}") from None
        threading.Thread(target=self._pump, name="tegrastats-reader", daemon=True).start()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.feed(line)

    def feed(self, line: str) -> None:
        """Take one line of tegrastats output (the reader thread calls this; so can tests)."""
        parsed = parse_line(line)
        if parsed.rails_mw:
            with self._lock:
                self._latest = (time.monotonic(), parsed)

    def latest(self, wait_s: float | None = None) -> TegraLine:
        """The newest parsed line; waits up to ``wait_s`` (default 3 intervals + 1 s) for one."""
        limit_s = 3 * self.interval_ms / 1e3 + 1
        deadline = time.monotonic() + (limit_s if wait_s is None else wait_s)
        while True:
            with self._lock:
                latest = self._latest
            if latest is not None and (self._proc is None or time.monotonic() - latest[0] <= limit_s):
                return latest[1]
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if latest is None:
            raise SensorError(f"tegrastats printed no power line within {limit_s:.1f} s")
        status = self._proc.poll() if self._proc is not None else None
        raise SensorError(f"tegrastats printed nothing for {time.monotonic() - latest[0]:.1f} s "
                          f"(exit status {status})")

    def read(self) -> Reading:
        parsed = self.latest()
        return Reading(watts=parsed.rails_mw[input_rail(parsed, self.rail)][0] / 1e3)

    def describe(self) -> str:
        return (f"tegrastats rail {self.rail or 'VDD_IN/POM_5V_IN'} "
                f"(current value, {self.interval_ms} ms interval)")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None
