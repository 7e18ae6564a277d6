"""Silences (one-off or weekly windows that hold matching alerts' deliveries), the holds they
keep, and `alert.silenced_by`.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("job_filter", sa.String(length=200), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weekly", sa.JSON(), nullable=True),
        sa.Column("comment", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name=op.f("fk_silence_workspace_id_workspace"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["rule.id"], name=op.f("fk_silence_rule_id_rule"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoint.id"], name=op.f("fk_silence_endpoint_id_endpoint"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_silence_created_by_id_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silence")),
    )
    op.create_index("ix_silence_workspace_id_ends_at", "silence", ["workspace_id", "ends_at"], unique=False)
    op.create_table(
        "silence_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("silence_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("outcome IN ('delivered', 'dropped')", name=op.f("ck_silence_hold_outcome")),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"],
                                name=op.f("fk_silence_hold_workspace_id_workspace"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], name=op.f("fk_silence_hold_alert_id_alert"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoint.id"], name=op.f("fk_silence_hold_endpoint_id_endpoint"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["silence_id"], ["silence.id"], name=op.f("fk_silence_hold_silence_id_silence"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], name=op.f("fk_silence_hold_delivery_id_delivery"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silence_hold")),
    )
    op.create_index("ix_silence_hold_alert_id", "silence_hold", ["alert_id"], unique=False)
    op.create_index("ix_silence_hold_silence_id", "silence_hold", ["silence_id"], unique=False)
    op.create_index("ix_silence_hold_unreleased", "silence_hold", ["released_at"], unique=False,
                    sqlite_where=sa.text("released_at IS NULL"), postgresql_where=sa.text("released_at IS NULL"))
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silenced_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_alert_silenced_by_silence", "silence", ["silenced_by"], ["id"],
                                    ondelete="SET NULL")


def downgrade():
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alert_silenced_by_silence", type_="foreignkey")
        batch_op.drop_column("silenced_by")
    op.drop_table("silence_hold")
    op.drop_table("silence")
