"""baseline: deployments and results as they were before migrations

Revision ID: 0001
Revises:
Create Date: 2025-01-31

A database made by the old ``create_all`` (no ``alembic_version`` table) is adopted: existing tables are
kept with their rows, and columns they lack (e.g. ``power_samples`` in a store older than power
measurement) are added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _deployments() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("host_version", sa.String(32), nullable=False),
        sa.Column("agent_info", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    ]


def _results() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.String(32), sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("converter", sa.String(128), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("quantization", sa.String(32), nullable=False),
        sa.Column("runtime", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("artifact_sha256", sa.String(64), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("latency_p50_ms", sa.Float(), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("samples_ns", sa.JSON(), nullable=False),
        sa.Column("power_samples", sa.JSON(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
    ]


#: What an adopted table gets for a NOT NULL column it lacks.
_FILL = {"agent_info": "{}", "samples_ns": "[]", "power_samples": "[]", "record": "{}", "cached": "0"}


def _create_or_adopt(name: str, columns: list[sa.Column], indexes: list[str]) -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(name):
        op.create_table(name, *columns)
    else:
        have = {c["name"] for c in inspector.get_columns(name)}
        for col in columns:
            if col.name in have:
                continue
            fill = _FILL.get(col.name)
            default = None if fill is None else (sa.false() if col.name == "cached" else sa.text(f"'{fill}'"))
            with op.batch_alter_table(name) as batch:
                batch.add_column(sa.Column(col.name, col.type, nullable=col.nullable or fill is None,
                                           server_default=default))
    have_ix = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(name)}
    for column in indexes:
        ix = f"ix_{name}_{column}"
        if ix not in have_ix:
            op.create_index(ix, name, [column])


def upgrade() -> None:
    _create_or_adopt("deployments", _deployments(), ["device", "model"])
    _create_or_adopt("results", _results(), ["deployment_id"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("deployments")
