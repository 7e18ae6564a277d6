"""The time zone a user reads times in (an IANA name; empty means the browser's).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("time_zone")
