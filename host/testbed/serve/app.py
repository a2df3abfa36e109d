"""The dashboard's Flask app and its WSGI server (waitress).

Routes (GET only; any other method is 405, so nothing a request does can write):

    /                       boards, recent plan runs and deploys        pages/overview.py
    /runs/RUN               one run                                     pages/run.py
    /cells/CELL_ID          one cell across the runs of its plan        pages/cell.py
    /boards/DEVICE          one board                                   pages/board.py
    /compare?a=RUN&b=RUN    run b judged against run a                  pages/compare.py
    /assets/NAME            plotly.min.js, dashboard.css, dashboard.js  assets.py

Every page is rendered on request from the store as it is now: reload to see a running plan advance.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request, send_file

from ..errors import TestbedError
from ..store import Store
from . import assets
from .auth import TokenAuth
from .links import ServerLinks
from .pages import NotFound, board, cell, compare, overview, render, run

#: no script or style from anywhere but this server; plotly.js sets inline styles on its elements
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
READ = ("GET", "HEAD")


def create_app(store: Store, token: str | None = None) -> Flask:
    """The app over ``store`` (open it with ``read_only=True``); ``token``: every request must show it."""
    app = Flask("testbed.serve", static_folder=None)
    links = ServerLinks()
    auth = TokenAuth(token) if token else None

    def page(render_page: Callable[[], str]) -> Response:
        try:
            return Response(render_page(), mimetype="text/html")
        except NotFound as exc:
            return _error(store, links, 404, "Not found", str(exc))
        except TestbedError as exc:
            return _error(store, links, 500, "Cannot show this page", str(exc))

    @app.before_request
    def guard() -> Any:
        if request.method not in READ:
            return Response("405 Method Not Allowed: the dashboard is read-only\n", status=405,
                            mimetype="text/plain", headers={"Allow": ", ".join(READ)})
        return auth.check(request) if auth is not None else None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/", endpoint="overview")
    def overview_page() -> Response:
        return page(lambda: overview.page(store, links))

    @app.get("/runs/<run_id>", endpoint="run")
    def run_page(run_id: str) -> Response:
        return page(lambda: run.page(store, links, run_id))

    @app.get("/cells/<int:cell_id>", endpoint="cell")
    def cell_page(cell_id: int) -> Response:
        return page(lambda: cell.page(store, links, cell_id))

    @app.get("/boards/<path:device>", endpoint="board")
    def board_page(device: str) -> Response:
        return page(lambda: board.page(store, links, device))

    @app.get("/compare", endpoint="compare")
    def compare_page() -> Response:
        return page(lambda: compare.page(store, links, request.args.get("a"), request.args.get("b")))

    @app.get("/assets/<name>", endpoint="asset")
    def asset(name: str) -> Response:
        path = assets.path(name) if name in assets.NAMES else None
        if path is None:
            return _error(store, links, 404, "Not found", f"no asset '{name}'")
        answer = send_file(path, mimetype=assets.TYPES[path.suffix], max_age=3600)
        answer.headers["Cache-Control"] = "public, max-age=3600"
        return answer

    return app


def _error(store: Store, links: ServerLinks, status: int, heading: str, message: str) -> Response:
    html = render("error.html", links, store.url, title=heading, heading=heading, message=message)
    return Response(html, status=status, mimetype="text/html")


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    import ipaddress

    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def serve(app: Flask, host: str, port: int, url_prefix: str = "", threads: int = 4,
          ready: Callable[[str], None] = print) -> None:
    """Serve ``app`` with waitress until interrupted (Ctrl-C, SIGTERM: waitress returns); ``ready`` gets the
    URL once it listens (port 0: a free port, the one chosen is in the URL)."""
    from waitress import create_server

    server: Any = create_server(app, host=host, port=port, url_prefix=url_prefix, threads=threads,
                                ident="testbed-serve", clear_untrusted_proxy_headers=True)
    bound_port = server.effective_port
    shown = f"[{host}]" if ":" in host else host
    ready(f"http://{shown}:{bound_port}{url_prefix}/")
    try:
        server.run()
    finally:
        server.close()
