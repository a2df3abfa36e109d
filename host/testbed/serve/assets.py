"""The files the pages load, all from this machine: the dashboard's stylesheet, script and icon (``static/``)
and plotly.js from the installed plotly package (``plotly/package_data/plotly.min.js``)."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache
from pathlib import Path

from ..errors import ConfigError

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def plotly_js() -> Path:
    """plotly.min.js of the installed plotly package; ConfigError when it is missing."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the dashboard's plots need plotly.js from the plotly package, which is not installed: "
                          "pip install 'plotly>=5' (in testbed[host-core])")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ConfigError(f"the plotly package has no {path}: reinstall it (pip install --force-reinstall 'plotly>=5')")
    return path


def path(name: str) -> Path | None:
    """The file behind asset ``name``, or None when there is no such asset."""
    if name == "plotly.min.js":
        return plotly_js()
    if name in ("dashboard.css", "dashboard.js", "favicon.svg"):
        return STATIC / name
    return None


NAMES = ("plotly.min.js", "dashboard.css", "dashboard.js", "favicon.svg")


@cache
def digest(name: str) -> str:
    """A short hash of the asset's bytes: in its URL (``?v=``), so a browser's cached copy (kept an hour)
    is never used for another version."""
    found = path(name)
    return hashlib.sha256(found.read_bytes()).hexdigest()[:12] if found else ""
