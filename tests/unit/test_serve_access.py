"""testbed.serve without a server process: the token (bearer header, ``?token=`` once then a cookie) and the
read-only guarantee (every method but GET/HEAD is 405; rendering every page leaves the store file as it
was; a store opened read-only refuses writes and is never migrated), through Flask's test client over
the dashboard test store (tests/helpers/dashboard_store.py)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from helpers.dashboard_store import DashboardStore, build
from testbed.errors import ConfigError
from testbed.serve.app import create_app
from testbed.store import Store

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> DashboardStore:
    return build(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def client(dashboard: DashboardStore) -> Iterator[FlaskClient]:
    store = Store(dashboard.url, read_only=True)
    yield create_app(store).test_client()
    store.engine.dispose()


@pytest.fixture(scope="module")
def guarded(dashboard: DashboardStore) -> Iterator[FlaskClient]:
    store = Store(dashboard.url, read_only=True)
    yield create_app(store, token=TOKEN).test_client()
    store.engine.dispose()


def _pages(dashboard: DashboardStore, client: FlaskClient) -> list[str]:
    first, second = dashboard.nights
    cell = Store(dashboard.url, read_only=True).plan_cells(second)[0].id
    return ["/", f"/runs/{first}", f"/runs/{second}", f"/runs/{dashboard.deploy}", f"/cells/{cell}",
            "/boards/pi4", "/compare", f"/compare?a={first}&b={second}", f"/compare?a={dashboard.deploy}&b={second}",
            "/assets/plotly.min.js", "/assets/dashboard.js", "/assets/dashboard.css", "/assets/favicon.svg"]


def test_every_page_renders_and_the_store_file_is_unchanged(dashboard: DashboardStore, client: FlaskClient) -> None:
    before = hashlib.sha256(dashboard.path.read_bytes()).hexdigest()
    listing = sorted(p.name for p in dashboard.path.parent.iterdir())
    for url in _pages(dashboard, client):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:500])
        if not url.startswith("/assets/"):
            assert "cdn" not in answer.text.lower() and "https://" not in answer.text, url  # nothing from elsewhere
            assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert hashlib.sha256(dashboard.path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in dashboard.path.parent.iterdir()) == listing  # no journal, no lock file


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_anything_but_get_is_405(dashboard: DashboardStore, client: FlaskClient, method: str) -> None:
    for url in ["/", f"/runs/{dashboard.deploy}", "/compare", "/assets/dashboard.js", "/no/such/page"]:
        answer = client.open(url, method=method, data={"status": "done"})
        assert answer.status_code == 405, (method, url)
        assert answer.headers["Allow"] == "GET, HEAD" and "read-only" in answer.text


def test_unknown_run_or_cell_is_a_404_page_saying_so(client: FlaskClient) -> None:
    answer = client.get("/runs/nope")
    assert answer.status_code == 404 and "no run &#39;nope&#39;" in answer.text
    assert client.get("/cells/999999").status_code == 404
    assert client.get("/boards/no-such-board").status_code == 404
    assert client.get("/assets/secrets.txt").status_code == 404


def test_a_read_only_store_refuses_writes(dashboard: DashboardStore) -> None:
    store = Store(dashboard.url, read_only=True)
    with pytest.raises(OperationalError, match="readonly"):
        store.update_plan_run(dashboard.deploy, status="failed")
    assert store.plan_run(dashboard.deploy).status == "done"  # type: ignore[union-attr]
    store.engine.dispose()


def test_a_read_only_store_is_not_migrated(tmp_path: Path) -> None:
    Store(f"sqlite:///{tmp_path / 'old.db'}").engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0005'")
    with pytest.raises(ConfigError, match="at revision 0005, this testbed reads 00"):
        Store(f"sqlite:///{tmp_path / 'old.db'}", read_only=True)
    with pytest.raises(ConfigError, match="no SQLite store at"):
        Store(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True)
    assert not (tmp_path / "missing.db").exists()


def test_without_the_token_it_is_401_with_one_line_saying_how(guarded: FlaskClient) -> None:
    for url in ("/", "/assets/plotly.min.js", "/compare"):
        answer = guarded.get(url)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert len(answer.text.strip().splitlines()) == 1 and "?token=TOKEN" in answer.text
    assert guarded.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/?token=wrong").status_code == 401


def test_a_bearer_header_lets_a_request_in(guarded: FlaskClient) -> None:
    assert guarded.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_the_token_in_the_url_once_becomes_a_cookie_and_leaves_the_url(dashboard: DashboardStore,
                                                                       guarded: FlaskClient) -> None:
    first, second = dashboard.nights
    answer = guarded.get(f"/compare?a={first}&token={TOKEN}&b={second}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/compare?a={first}&b={second}"  # the other arguments kept
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert guarded.get(f"/compare?a={first}&b={second}").status_code == 200  # the client keeps the cookie
    guarded.delete_cookie("testbed_serve")
    assert guarded.get("/").status_code == 401
    guarded.set_cookie("testbed_serve", "forged")
    assert guarded.get("/").status_code == 401
    guarded.delete_cookie("testbed_serve")


def test_an_empty_token_is_refused() -> None:
    from testbed.serve.auth import TokenAuth

    with pytest.raises(ValueError, match="anyone"):
        TokenAuth("  ")


def test_serving_beyond_loopback_needs_a_token(dashboard: DashboardStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.cli import main

    monkeypatch.delenv("TESTBED_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["serve", "--db", dashboard.url, "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "without --token" in result.output and "docs/serve.md" in result.output
