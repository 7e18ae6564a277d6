"""Delivery rounds: `round_base_attempts` (attempts made before the current Redeliver round), so
an attempt budget reads "attempt 1 of 8" after a redeliver instead of "2/9".

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("round_base_attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("round_base_attempts")
