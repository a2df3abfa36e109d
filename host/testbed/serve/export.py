"""A run's dashboard pages as static files (`testbed report RUN --html DIR`), for a deploy as for a plan run:

    DIR/index.html          the run page (as /runs/RUN serves it)
    DIR/cell-ID.html        each cell's history across the runs of its plan
    DIR/compare.html        the run judged against its baseline (when it has one)
    DIR/assets/             plotly.min.js, dashboard.css, dashboard.js

The same page functions as the server, with links between these files only (relative: the directory
can be moved, served by any web server or opened from disk). Nothing is fetched from elsewhere.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..store import Store
from . import assets
from .links import StaticLinks
from .pages import cell, compare, run


def write_run(store: Store, run_id: str, directory: Path) -> list[Path]:
    """Write the run's pages into ``directory`` (created; files of the same names replaced); the pages."""
    found = run.find(store, run_id)
    cells = store.plan_cells(found.id)
    links = StaticLinks(found.id, {c.id for c in cells}, found.baseline_id)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "assets").mkdir(exist_ok=True)
    for name in assets.NAMES:
        source = assets.path(name)
        assert source is not None
        shutil.copyfile(source, directory / "assets" / name)
    pages: dict[Path, Callable[[], str]] = {directory / "index.html": lambda: run.page(store, links, found.id)}
    for c in cells:
        pages[directory / f"cell-{c.id}.html"] = partial(cell.page, store, links, c.id)
    if found.baseline_id:
        pages[directory / "compare.html"] = lambda: compare.page(store, links, found.baseline_id, found.id)
    for path, render_page in pages.items():
        path.write_text(render_page(), encoding="utf-8")
    return list(pages)
