"""Log-out that ends sessions, and log-in throttling: a session version per user (part of every
session and remember-me cookie) and the database counters of failed log-ins and sign-ups that
every process shares.

Existing users start at version 0; sessions made before this version carry no version and are
read as version 0, so nobody is logged out by the upgrade.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_throttle")),
    )
    with op.batch_alter_table("auth_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_throttle_window_started_at"), ["window_started_at"], unique=False)


def downgrade():
    with op.batch_alter_table("auth_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_throttle_window_started_at"))
    op.drop_table("auth_throttle")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
