"""Roofline: FLOPs and bytes per inference counted from the graph, against the board's measured peak.

(issue 16: being built; ``add`` fills ``record["roofline"]``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testbed_zoo import ZooModel

    from ..converters.cache import Artifact


def add(record: dict[str, Any], result: dict[str, Any], art: Artifact, model: ZooModel) -> None:
    """``record["roofline"]`` from the artifact's counted work and the result's ``peak``."""
    record["roofline"] = None
