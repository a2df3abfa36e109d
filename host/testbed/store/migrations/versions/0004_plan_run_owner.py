"""plan_runs.owner / heartbeat_at: the controller executing a run, so two cannot resume it at once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
