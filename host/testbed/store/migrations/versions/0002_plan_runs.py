"""plan runs: plan_runs, plan_boards, plan_cells; results.cell_id

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-31
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("plan_name", sa.String(128), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("host_version", sa.String(32), nullable=False),
        sa.Column("baseline_id", sa.String(32), nullable=True),
        sa.Column("regressions", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_plan_runs_plan_name", "plan_runs", ["plan_name"])
    op.create_table(
        "plan_boards",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("plan_runs.id"), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("agent_info", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("run_id", "device"),
    )
    op.create_index("ix_plan_boards_run_id", "plan_boards", ["run_id"])
    op.create_table(
        "plan_cells",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("plan_runs.id"), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("converter", sa.String(128), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("quantization", sa.String(32), nullable=False),
        sa.Column("runtime", sa.String(32), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("deployment_id", sa.String(32), sa.ForeignKey("deployments.id"), nullable=True),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.UniqueConstraint("run_id", "key"),
    )
    op.create_index("ix_plan_cells_run_id", "plan_cells", ["run_id"])
    op.create_index("ix_plan_cells_state", "plan_cells", ["state"])
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("cell_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_results_cell_id_plan_cells", "plan_cells", ["cell_id"], ["id"])
        batch.create_index("ix_results_cell_id", ["cell_id"])


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_index("ix_results_cell_id")
        batch.drop_constraint("fk_results_cell_id_plan_cells", type_="foreignkey")
        batch.drop_column("cell_id")
    op.drop_table("plan_cells")
    op.drop_table("plan_boards")
    op.drop_table("plan_runs")
