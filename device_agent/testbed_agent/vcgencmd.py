"""``vcgencmd get_throttled``, the Raspberry Pi firmware's throttling flags: running it, reading
its ``throttled=0x50005`` answer, naming its bits (``THROTTLE_BITS``: the low four are the
conditions now, bits 16-19 those since boot).

``ThermalReader`` (``thermal_reader``) runs it through an injectable ``CommandRunner`` (fixture
text in the tests; ``run_command`` on a real board).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

#: ``vcgencmd get_throttled`` bits (Raspberry Pi documentation, "vcgencmd get_throttled").
THROTTLE_BITS = {
    0: "under-voltage detected",
    1: "ARM frequency capped",
    2: "currently throttled",
    3: "soft temperature limit active",
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}
NOW_MASK = 0xF
OCCURRED_MASK = 0xF0000
#: ``run(argv) -> stdout`` or None when the command is missing or fails.
CommandRunner = Callable[[list[str]], "str | None"]


def run_command(argv: list[str], timeout_s: float = 2.0) -> str | None:
    """Run ``argv`` if its program exists; its stdout, or None."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def decode_throttled(value: int) -> dict[str, Any]:
    """``vcgencmd get_throttled`` value -> raw hex, the conditions now, those since boot."""
    return {"raw": hex(value),
            "now": [THROTTLE_BITS[b] for b in range(4) if value >> b & 1],
            "since_boot": [THROTTLE_BITS[b] for b in range(16, 20) if value >> b & 1]}


def parse_throttled(text: str | None) -> int | None:
    """``throttled=0x50005`` -> 0x50005; None for anything else."""
    found = re.search(r"throttled=(0x[0-9a-fA-F]+)", text or "")
    return int(found.group(1), 16) if found else None

