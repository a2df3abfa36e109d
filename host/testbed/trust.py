"""A trust verdict per result: steady, noisy, throttled or contended, with the reasons.

(issue 16: being built; ``add`` fills ``record["trust"]``.)
"""

from __future__ import annotations

from typing import Any


def add(record: dict[str, Any], result: dict[str, Any]) -> None:
    """``record["trust"]`` from the record's thermal, the result's ``load`` and the samples."""
    record["trust"] = None
