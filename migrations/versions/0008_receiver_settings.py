"""Receivers of every kind: each endpoint's signature scheme (and its header names), the
credential of a PagerDuty or ntfy endpoint, its retry policy and its history limit; a rule's
attempt budget becomes optional (when unset, the endpoint's `max_attempts` decides).

Existing endpoints keep Standard Webhooks, today's retry schedule and 8 attempts; existing rules
keep the budget they have.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_scheme", sa.String(length=32), server_default="standard-webhooks",
                                      nullable=False))
        batch_op.add_column(sa.Column("signature_header", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("signature_header_prefix", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("routing_key_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("access_token_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("retry_delays_seconds", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("max_attempts", sa.Integer(), server_default="8", nullable=False))
        batch_op.add_column(sa.Column("history_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("rule", schema=None) as batch_op:
        batch_op.alter_column("max_attempts", existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("UPDATE rule SET max_attempts = 8 WHERE max_attempts IS NULL")
    with op.batch_alter_table("rule", schema=None) as batch_op:
        batch_op.alter_column("max_attempts", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        for column in ("history_limit", "max_attempts", "retry_delays_seconds", "access_token_encrypted",
                       "routing_key_encrypted", "signature_header_prefix", "signature_header", "signature_scheme"):
            batch_op.drop_column(column)
