"""The front page: every board with its state, the recent plan runs and deploys, a form to compare two."""

from __future__ import annotations

from ...store import Store
from .. import queries
from ..links import Links
from . import render


def page(store: Store, links: Links, limit: int = 30) -> str:
    plans = queries.recent_runs(store, kind="plan", limit=limit)
    deploys = queries.recent_runs(store, kind="deploy", limit=limit)
    old = store.standalone_deployments(limit)  # deploys from before deploys were runs: no run page
    return render("overview.html", links, store.url, title="testbed dashboard", boards=queries.boards(store),
                  plans=plans, deploys=deploys, old_deploys=old, choices=plans + deploys, a=None, b=None)
