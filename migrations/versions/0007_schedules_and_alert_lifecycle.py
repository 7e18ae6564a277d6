"""Schedules and missed runs, the alert lifecycle (firing → resolved, repeats) and the payload
type of each delivery; `verification_failed` runs need a wider status column.

Existing alerts become `firing` (acknowledged ones keep their acknowledgement); existing
deliveries carried `alert.fired`. The job trigger of the API cache (0006) now fires only for
the columns the cache holds, so a scheduled job's report, which moves `expected_at`, clears no
cache.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JOB_TRIGGER = """CREATE OR REPLACE TRIGGER job_cached_rows
    AFTER UPDATE OF workspace_id, slug, name, default_deadline_seconds, schedule, grace_seconds, is_paused
    OR DELETE OR TRUNCATE ON job
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()"""
OLD_JOB_TRIGGER = """CREATE OR REPLACE TRIGGER job_cached_rows AFTER UPDATE OR DELETE OR TRUNCATE ON job
    FOR EACH STATEMENT EXECUTE FUNCTION tocsin_notify_cached_rows()"""


def upgrade():
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("grace_seconds", sa.Integer(), server_default="300", nullable=False))
        batch_op.add_column(sa.Column("is_paused", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("missing_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_job_missing_after", ["missing_after"], unique=False,
                              sqlite_where=sa.text("missing_after IS NOT NULL"),
                              postgresql_where=sa.text("missing_after IS NOT NULL"))
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_note", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=16), server_default="firing", nullable=False))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_repeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_alert_resolved_by_id_user", "user", ["resolved_by_id"], ["id"],
                                    ondelete="SET NULL")
        batch_op.create_index("ix_alert_job_id_state", ["job_id", "state"], unique=False)
        batch_op.create_index("ix_alert_next_repeat_at", ["next_repeat_at"], unique=False,
                              sqlite_where=sa.text("next_repeat_at IS NOT NULL"),
                              postgresql_where=sa.text("next_repeat_at IS NOT NULL"))
    with op.batch_alter_table("rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_on_resolve", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("repeat_interval_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.String(length=32), server_default="alert.fired", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(JOB_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(OLD_JOB_TRIGGER)
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("event")
    with op.batch_alter_table("rule", schema=None) as batch_op:
        batch_op.drop_column("repeat_interval_seconds")
        batch_op.drop_column("notify_on_resolve")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_next_repeat_at")
        batch_op.drop_index("ix_alert_job_id_state")
        batch_op.drop_constraint("fk_alert_resolved_by_id_user", type_="foreignkey")
        batch_op.drop_column("next_repeat_at")
        batch_op.drop_column("resolved_by_id")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("state")
        batch_op.drop_column("acknowledged_note")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_missing_after")
        batch_op.drop_column("missing_after")
        batch_op.drop_column("expected_at")
        batch_op.drop_column("is_paused")
        batch_op.drop_column("grace_seconds")
        batch_op.drop_column("schedule")
