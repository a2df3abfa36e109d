"""Alembic environment for the results store.

``Store`` runs the migrations itself on open (``db.migrate``) and hands its connection over in
``config.attributes["connection"]``. From the command line (to write a new revision) the database is
``$TESTBED_DB`` or the default SQLite file::

    alembic -c host/testbed/store/alembic.ini revision --autogenerate -m "results: add foo"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from testbed.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from testbed.store.db import default_url

    engine = create_engine(config.get_main_option("sqlalchemy.url") or default_url())
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
