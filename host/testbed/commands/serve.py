"""`testbed serve`: the live dashboard over the results store (testbed.serve), read-only, on waitress."""

from __future__ import annotations

import signal

import click

from ..errors import ConfigError, TestbedError
from ._common import err_console, fail


@click.command()
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token (behind a reverse proxy that "
                   "authenticates, keep 127.0.0.1: docs/serve.md).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: a free one, printed).")
@click.option("--token", envvar="TESTBED_SERVE_TOKEN", show_envvar=True,
              help="Every request must show this token: 'Authorization: Bearer TOKEN', or ?token=TOKEN once "
                   "in a browser (then a cookie).")
@click.option("--url-prefix", default="", metavar="/PATH",
              help="The path a reverse proxy serves the dashboard under (e.g. /testbed), for its links.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Requests served at once.")
def serve(db: str | None, host: str, port: int, token: str | None, url_prefix: str, threads: int) -> None:
    """A live dashboard over the results store: boards, runs, a run's plots and verdicts, a cell's history,
    two runs compared. Read-only; reload a page to see a running plan advance. Ctrl-C stops it."""
    from ..serve import assets
    from ..serve.app import create_app, is_loopback
    from ..serve.app import serve as run_server
    from ..serve.pages import public_url
    from ..store import Store

    prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
    try:
        if not token and not is_loopback(host):
            raise ConfigError(f"--host {host} without --token would show the results store to anyone who reaches "
                              "this machine: give --token (or $TESTBED_SERVE_TOKEN), or keep --host 127.0.0.1 "
                              "behind a reverse proxy that authenticates (docs/serve.md)")
        assets.plotly_js()  # a missing plotly is one line now, not a broken page later
        store = Store(db, read_only=True)
        app = create_app(store, token=token or None)
    except TestbedError as exc:
        fail(exc)
        return

    def ready(url: str) -> None:
        needs = ", token required" if token else ""
        click.echo(f"testbed serve: {url} (store {public_url(store.url)}, read-only{needs}; Ctrl-C stops)", err=True)

    def stop(signum: int, frame: object) -> None:  # SIGTERM (systemctl stop, kill): as Ctrl-C, a clean stop
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        run_server(app, host, port, url_prefix=prefix, threads=threads, ready=ready)
    except OSError as exc:  # the port is taken, the address is not this machine's
        fail(ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port/--host"))
    except KeyboardInterrupt:
        pass
    err_console.print("testbed serve: stopped")
