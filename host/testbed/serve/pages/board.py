"""One board: its latest state and its check in each of its runs, newest first."""

from __future__ import annotations

from ...store import Store
from .. import queries
from ..links import Links
from . import NotFound, render


def page(store: Store, links: Links, device: str) -> str:
    state = next((b for b in queries.boards(store) if b.device == device), None)
    if state is None:
        raise NotFound(f"no board '{device}' in any run of {store.url}; the front page lists the boards")
    return render("board.html", links, store.url, title=f"board {device}", board=state,
                  runs=queries.board_runs(store, device))
