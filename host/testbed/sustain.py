"""Sustained runs (``--sustain``): latency per second with temperature, frequency and throttling.

(issue 16: being built; ``add`` fills ``record["sustain"]``.)
"""

from __future__ import annotations

from typing import Any


def add(record: dict[str, Any], result: dict[str, Any], samples_ns: list[int]) -> None:
    """``record["sustain"]`` from the raw samples and the thermal samples of a sustained run."""
    record["sustain"] = None
