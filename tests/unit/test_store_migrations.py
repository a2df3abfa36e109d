"""The store's alembic migrations: a new database, a database made before migrations existed, and
schema.py agreeing with the migrations (a column added to one but not the other fails here)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from testbed.store import Store
from testbed.store.db import current_revision, head_revision
from testbed.store.schema import Base

# deployments + results exactly as the old create_all made them before power samples (0.1.0 first cut)
OLD_SCHEMA = """
CREATE TABLE deployments (id VARCHAR(32) NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL,
  device VARCHAR(128) NOT NULL, model VARCHAR(256) NOT NULL, host_version VARCHAR(32) NOT NULL,
  agent_info JSON NOT NULL, status VARCHAR(16) NOT NULL, error TEXT);
CREATE INDEX ix_deployments_device ON deployments (device);
CREATE INDEX ix_deployments_model ON deployments (model);
CREATE TABLE results (id INTEGER NOT NULL PRIMARY KEY, deployment_id VARCHAR(32) NOT NULL REFERENCES deployments (id),
  created_at DATETIME NOT NULL, model VARCHAR(256) NOT NULL, converter VARCHAR(128) NOT NULL,
  format VARCHAR(32) NOT NULL, source VARCHAR(32) NOT NULL, quantization VARCHAR(32) NOT NULL,
  runtime VARCHAR(32) NOT NULL, status VARCHAR(16) NOT NULL, error TEXT, artifact_sha256 VARCHAR(64),
  size_bytes INTEGER, latency_p50_ms FLOAT, cached BOOLEAN NOT NULL, samples_ns JSON NOT NULL, record JSON NOT NULL);
CREATE INDEX ix_results_deployment_id ON results (deployment_id);
INSERT INTO deployments VALUES ('d1', '2025-01-01 00:00:00', 'pi4', 'digits_cnn', '0.1.0', '{}', 'done', NULL);
INSERT INTO results (deployment_id, created_at, model, converter, format, source, quantization, runtime, status,
  cached, samples_ns, record) VALUES ('d1', '2025-01-01 00:00:00', 'digits_cnn', 'onnx-torch-fp32', 'onnx',
  'pytorch', 'fp32', 'onnxruntime', 'ok', 0, '[1, 2, 3]', '{"status": "ok"}');
"""


def _diff(store: Store) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def test_new_database_is_at_head_and_matches_schema(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    with store.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert _diff(store) == []
    Store(store.url)  # opening again migrates nothing and does not fail


def test_database_from_before_migrations_is_adopted_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    store = Store(f"sqlite:///{path}")
    assert _diff(store) == []
    rows = store.results("d1")
    assert len(rows) == 1 and rows[0].samples_ns == [1, 2, 3] and rows[0].power_samples == []
    assert rows[0].cell_id is None
    assert {"plan_runs", "plan_cells", "plan_boards"} <= set(sa.inspect(store.engine).get_table_names())
