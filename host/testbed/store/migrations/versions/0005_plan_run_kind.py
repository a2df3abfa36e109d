"""plan_runs.kind: plan (`testbed run --plan`) or deploy (`testbed deploy`, a plan of one board)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_runs") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="plan"))


def downgrade() -> None:
    with op.batch_alter_table("plan_runs") as batch:
        batch.drop_column("kind")
