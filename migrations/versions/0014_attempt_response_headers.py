"""Attempts keep the receiver's response headers (capped, credentials masked), shown on the
delivery page next to the response status and body.

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("delivery_attempt") as batch:
        batch.add_column(sa.Column("response_headers", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("delivery_attempt") as batch:
        batch.drop_column("response_headers")
