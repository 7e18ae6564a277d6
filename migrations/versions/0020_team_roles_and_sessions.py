"""Teams: roles owner, admin and viewer (an existing "member" could do everything but did not
manage members, which is what an admin is), the role an invite grants, and one row per signed-in
browser session (listed and revocable on the account page, bound to its current workspace).

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_membership_role"), type_="check")
    op.execute("UPDATE membership SET role = 'admin' WHERE role = 'member'")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_check_constraint("role", "role IN ('owner', 'admin', 'viewer')")

    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="viewer"))
        batch_op.create_check_constraint("role", "role IN ('admin', 'viewer')")

    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False, server_default=""),
        sa.Column("user_agent", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"],
                                name=op.f("fk_user_session_workspace_id_workspace"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)


def downgrade():
    op.drop_table("user_session")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_invite_role"), type_="check")
        batch_op.drop_column("role")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_membership_role"), type_="check")
    op.execute("UPDATE membership SET role = 'member' WHERE role IN ('admin', 'viewer')")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_check_constraint("role", "role IN ('owner', 'member')")
