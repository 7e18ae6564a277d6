"""System events as rule events: `endpoint_disabled`, `delivery_dead` and `scheduler_stalled`
join the rule events (the CHECK constraints on rule.event and alert.type); an alert records
the endpoint a system alert is about (`system_endpoint_id`, never sent there); and at most one
scheduler_stalled alert per rule fires at a time (a partial unique index: the claim that lets
only the first of several processes noticing a stall raise it).

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

RUN_EVENTS = ("run_failed", "run_succeeded", "run_timed_out", "run_slow", "consecutive_failures", "run_missed",
              "run_verification_failed")
SYSTEM_EVENTS = ("endpoint_disabled", "delivery_dead", "scheduler_stalled")
FIRING_STALL = "type = 'scheduler_stalled' AND state = 'firing'"
COLUMNS = (("rule", "event"), ("alert", "type"))


def _condition(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _set_events(values) -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
            batch_op.create_check_constraint(column, _condition(column, values))


def upgrade():
    _set_events(RUN_EVENTS + SYSTEM_EVENTS)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("system_endpoint_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_alert_system_endpoint_id_endpoint", "endpoint", ["system_endpoint_id"],
                                    ["id"], ondelete="SET NULL")
        batch_op.create_index("uq_alert_firing_scheduler_stalled", ["rule_id"], unique=True,
                              sqlite_where=sa.text(FIRING_STALL), postgresql_where=sa.text(FIRING_STALL))


def downgrade():
    op.execute(sa.text("DELETE FROM alert WHERE type IN ('endpoint_disabled', 'delivery_dead', 'scheduler_stalled')"))
    op.execute(sa.text("DELETE FROM rule WHERE event IN ('endpoint_disabled', 'delivery_dead', 'scheduler_stalled')"))
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("uq_alert_firing_scheduler_stalled")
        batch_op.drop_constraint("fk_alert_system_endpoint_id_endpoint", type_="foreignkey")
        batch_op.drop_column("system_endpoint_id")
    _set_events(RUN_EVENTS)
