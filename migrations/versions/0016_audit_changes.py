"""Audit events keep an edit's fields as old → new and the object's name at the time.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.add_column(sa.Column("changes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("object_name", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_column("object_name")
        batch_op.drop_column("changes")
