"""API keys get a scope: `ingest` (report, finish and read runs) or `full` (the whole API).
Every existing key could do everything, so it becomes `full`.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    # The server default fills the existing rows with `full` on SQLite and PostgreSQL alike.
    with op.batch_alter_table("api_key") as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=16), nullable=False, server_default="full"))
        batch_op.create_check_constraint("scope", "scope IN ('ingest', 'full')")


def downgrade():
    with op.batch_alter_table("api_key") as batch_op:
        batch_op.drop_constraint(op.f("ck_api_key_scope"), type_="check")
        batch_op.drop_column("scope")
