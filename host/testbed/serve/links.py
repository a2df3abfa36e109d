"""Where a page links to. The same page functions render for the server (``ServerLinks``: its routes,
under any prefix a reverse proxy adds) and for a static export (``StaticLinks``: the files written
beside the page, relative, so the directory can be moved or opened from disk). A page that is not
there (a static export holds one run) has no link: the template shows plain text instead.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlencode

from .assets import digest


class Links(Protocol):
    def overview(self) -> str | None: ...
    def run(self, run_id: str) -> str | None: ...
    def cell(self, cell_id: int) -> str | None: ...
    def board(self, device: str) -> str | None: ...
    def compare(self, baseline: str | None = None, run: str | None = None) -> str | None: ...  # None: the form
    def asset(self, name: str) -> str: ...
    @property
    def live(self) -> bool: ...  # the server (forms and lists of other runs make sense), not a file


class ServerLinks:
    """The app's routes (``app.py``), built by Flask so a reverse proxy's prefix (SCRIPT_NAME) is kept."""

    live = True

    def _url(self, endpoint: str, **values: Any) -> str:
        from flask import url_for

        return url_for(endpoint, **values)

    def overview(self) -> str:
        return self._url("overview")

    def run(self, run_id: str) -> str:
        return self._url("run", run_id=run_id)

    def cell(self, cell_id: int) -> str:
        return self._url("cell", cell_id=cell_id)

    def board(self, device: str) -> str:
        return self._url("board", device=device)

    def compare(self, baseline: str | None = None, run: str | None = None) -> str:
        page = self._url("compare")
        return page + "?" + urlencode({"a": baseline, "b": run}) if baseline and run else page

    def asset(self, name: str) -> str:
        return self._url("asset", name=name, v=digest(name))


class StaticLinks:
    """The files of one exported run (``export.py``): its page, its cells' histories, the comparison
    with its baseline; everything else has no page."""

    live = False

    def __init__(self, run_id: str, cell_ids: set[int], baseline_id: str | None) -> None:
        self.run_id, self.cell_ids, self.baseline_id = run_id, cell_ids, baseline_id

    def overview(self) -> str | None:
        return None

    def run(self, run_id: str) -> str | None:
        return "index.html" if run_id == self.run_id else None

    def cell(self, cell_id: int) -> str | None:
        return f"cell-{cell_id}.html" if cell_id in self.cell_ids else None

    def board(self, device: str) -> str | None:
        return None

    def compare(self, baseline: str | None = None, run: str | None = None) -> str | None:
        return "compare.html" if self.baseline_id and (baseline, run) == (self.baseline_id, self.run_id) else None

    def asset(self, name: str) -> str:
        return f"assets/{name}"
