"""Indexes for the history filtered by status and for each job's open runs (partial: only
runs still `running`).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_workspace_id_status_id", ["workspace_id", "status", "id"], unique=False)
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index("ix_run_open_job_id_status_started_at", ["job_id", "status", "started_at"],
                              unique=False,
                              sqlite_where=sa.text("status = 'running'"),
                              postgresql_where=sa.text("status = 'running'"))


def downgrade():
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index("ix_run_open_job_id_status_started_at")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_workspace_id_status_id")
