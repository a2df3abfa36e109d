"""The dashboard's pages, one module each: a function ``(store, links, ...) -> str`` that gathers its data
and renders its template (``serve/templates``). The server and a static export call the same functions;
only ``links`` differs.

    overview.py   boards and their state, recent plan runs and deploys, two runs to compare
    run.py        one run: its table, latency distributions, size/latency front, history, framework verdict
    cell.py       one cell across the runs of its plan, regressions marked
    compare.py    two runs, every cell of the second judged against the first
    board.py      one board: its checks and runs
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy.engine import make_url

from ... import __version__
from ...errors import ConfigError
from ..links import Links
from ..queries import utcnow

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class NotFound(ConfigError):
    """A page asked for something the store does not hold (a run, a cell): the server answers 404."""


def _num(value: Any, fmt: str = ".4g") -> str:
    return "–" if value is None else format(value, fmt)


def _when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    s = (utcnow() - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{max(s, 0):.0f} s ago"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, when=_when, ago=_ago)
    return env


def public_url(url: str) -> str:
    """The store's URL without its password (it is shown on every page)."""
    return make_url(url).render_as_string(hide_password=True)


def render(template: str, links: Links, store_url: str, **context: Any) -> str:
    """The page: ``template`` with ``context``, the links, the store it reads and when it was made."""
    return environment().get_template(template).render(
        links=links, store_url=public_url(store_url), version=__version__,
        generated=utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"), **context)
