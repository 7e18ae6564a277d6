"""Audit events keep an edit's fields as old → new, the object's name at the time, and the API
key a request came with.

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
        batch_op.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_audit_event_api_key_id_api_key"), "api_key", ["api_key_id"], ["id"],
                                    ondelete="SET NULL")


def downgrade():
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_constraint(op.f("fk_audit_event_api_key_id_api_key"), type_="foreignkey")
        batch_op.drop_column("api_key_id")
        batch_op.drop_column("object_name")
        batch_op.drop_column("changes")
