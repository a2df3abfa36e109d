"""The board's own peak compute (GFLOP/s) and memory bandwidth, for the host's roofline.

(issue 16: being built; ``for_request`` returns the ``peak`` of a result, or None when not asked.)
"""

from __future__ import annotations

from typing import Any


def for_request(request: dict[str, Any]) -> dict[str, Any] | None:
    """The peak record for this request's CPU setting (measured once, then cached); None unless
    the request asks for it (``peak``)."""
    return None
