"""artifact_blobs: artifacts shared by a lab's hosts (converted once, fetched by cache key, checked by sha256)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_blobs",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("converter", sa.String(length=128), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.Column("stored_by", sa.String(length=256), nullable=False),
    )
    op.create_index("ix_artifact_blobs_sha256", "artifact_blobs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_artifact_blobs_sha256", table_name="artifact_blobs")
    op.drop_table("artifact_blobs")
