"""Open a store's database and bring its tables up to date with the migrations in ``migrations/``
(alembic), under a lock (PostgreSQL advisory lock; a lock file beside a SQLite database), so two hosts
opening a new database at once do not race.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import QueuePool

from ..filelock import exclusive
from ..paths import home

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_KEY = 0x7E57BED  # advisory lock id held while migrating


def default_url() -> str:
    return os.environ.get("TESTBED_DB") or f"sqlite:///{home() / 'results.db'}"


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        lock_path = Path(url.database).expanduser().with_name(Path(url.database).name + ".migrate.lock")
        with exclusive(lock_path):
            yield
    else:
        yield


def migrate(engine: Engine) -> None:
    """Bring the database to the newest revision (nothing to do when it is there already)."""
    from alembic import command

    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with _migration_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({PG_LOCK_KEY})")
            conn.commit()
        try:
            if current_revision(conn) != head:
                command.upgrade(_alembic_config(conn), "head")
                conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})")
                conn.commit()


def open_engine(url: str, read_only: bool = False) -> Engine:
    """An engine on ``url``; ``read_only``: the database itself refuses writes (a SQLite file opened with
    ``mode=ro``, a PostgreSQL session whose transactions are read-only), nothing is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if read_only:
            return _sqlite_read_only(parsed.database)
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Board threads and a second host write at once: wait for the lock rather than fail.
        return create_engine(url, connect_args={"timeout": 60})
    if read_only and parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"options": "-c default_transaction_read_only=on"})
    return create_engine(url, pool_pre_ping=True)


def _sqlite_read_only(database: str | None) -> Engine:
    """A SQLite file opened read-only through its URI (``mode=ro``): no journal, no lock file, no
    missing file created; a write is refused by SQLite ("attempt to write a readonly database")."""
    import sqlite3
    from urllib.parse import quote

    if not database or database == ":memory:":
        raise ValueError("a read-only store needs a database file, not an in-memory SQLite")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no SQLite store at {path}")
    uri = f"file:{quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:  # pooled connections move between a server's threads
        return sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)

    return create_engine("sqlite://", creator=connect, poolclass=QueuePool)  # not the in-memory default pool
