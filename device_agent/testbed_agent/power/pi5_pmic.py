"""``pi5_pmic``: Raspberry Pi 5 PMIC rail telemetry from ``vcgencmd pmic_read_adc``.

Output lines (rail name, then ``_A``/``_V``; current and voltage come in separate lines)::

      VDD_CORE_A current(7)=0.75012000A
      VDD_CORE_V volt(15)=0.72000000V
       EXT5V_V volt(24)=5.12612000V

Current and voltage are paired by rail name (the ``_A``/``_V`` suffix stripped); power = V x A per
pair, and the reading is the sum over the paired rails (setting ``rails`` picks a subset). Unpaired
lines (``EXT5V_V``, ``BATT_V``) carry no power. The PMIC rails do not include the 5 V loads (USB,
fan, HATs) nor the PMIC's own conversion losses: the sum is below the wall power.

The command runner is injectable (``runner``: list[str] -> stdout) so tests feed recorded output;
by default each reading runs ``vcgencmd`` (about 10-20 ms on a Pi 5, which bounds the rate).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

from .base import Reading, Sensor, SensorError, Settings, find_program
from .registry import register

Runner = Callable[[list[str]], str]
_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=(-?[\d.]+(?:[eE][-+]?\d+)?)([AV])\s*$")


def parse_pmic(text: str) -> dict[str, tuple[float, float]]:
    """Rail -> (volts, amps) for every rail with both lines; unpaired lines are dropped."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(2) == m.group(4):
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    return {rail: (volts[rail], amps[rail]) for rail in amps if rail in volts}


def run_command(cmd: list[str]) -> str:
    """Run ``cmd`` and return its stdout; SensorError when it cannot run or fails."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SensorError(f"{' '.join(cmd)} failed: {exc}") from None
    if done.returncode != 0 or "error=" in done.stdout:
        msg = (done.stderr or done.stdout).strip().splitlines()
        why = msg[0] if msg else f"exit status {done.returncode}"
        raise SensorError(f"{' '.join(cmd)} failed: {why}")
    return done.stdout


def _command(root: str, settings: Settings | None) -> list[str] | None:
    if (settings or {}).get("command"):
        return list((settings or {})["command"])
    exe = find_program("vcgencmd", root)
    return [exe, "pmic_read_adc"] if exe else None


@register
class Pi5Pmic(Sensor):
    """Sum of V x A over the Raspberry Pi 5 PMIC rails."""

    name = "pi5_pmic"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        cmd = _command(root, settings)
        if cmd is None:
            return False, "vcgencmd not found (not Raspberry Pi OS)"
        try:
            rails = parse_pmic(run_command(cmd))
        except SensorError as exc:
            return False, f"{exc} (pmic_read_adc exists on the Raspberry Pi 5 only)"
        if not rails:
            return False, ("vcgencmd pmic_read_adc printed no current/voltage pairs "
                           "(Raspberry Pi 5 only)")
        return True, None

    def __init__(self, settings: Settings | None = None, root: str = "/", *,
                 runner: Runner | None = None) -> None:
        super().__init__(settings, root)
        self.command = _command(root, self.settings) or ["vcgencmd", "pmic_read_adc"]
        self.runner: Runner = runner or run_command
        rails = self.settings.get("rails")
        self.rails: list[str] | None = list(rails) if rails else None

    def rail_watts(self) -> dict[str, float]:
        """Rail -> watts for the selected rails, from one run of the command."""
        pairs = parse_pmic(self.runner(self.command))
        if not pairs:
            raise SensorError("pmic_read_adc printed no current/voltage pairs")
        if self.rails is not None:
            missing = [r for r in self.rails if r not in pairs]
            if missing:
                raise SensorError(f"pmic_read_adc has no rail {missing} (rails: {', '.join(pairs)})")
            pairs = {r: pairs[r] for r in self.rails}
        return {rail: v * a for rail, (v, a) in pairs.items()}

    def read(self) -> Reading:
        return Reading(watts=sum(self.rail_watts().values()))

    def describe(self) -> str:
        which = ", ".join(self.rails) if self.rails else "all paired rails"
        return f"Raspberry Pi 5 PMIC rails ({which}); excludes 5 V peripherals and PMIC losses"
