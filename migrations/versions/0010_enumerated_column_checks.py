"""CHECK constraints on every enumerated column, so the database refuses a value no code means:
run status; alert type, severity and state; delivery status and payload type; rule event and
severity; endpoint format and signature scheme; member role.

The values are written out here (a migration is history: it must not change when the code's
lists grow; a later migration changes a constraint). Rows that break a constraint stop the
upgrade with the constraint's name, before anything changed on PostgreSQL (one transaction).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RULE_EVENTS = ("run_failed", "run_succeeded", "run_timed_out", "run_slow", "consecutive_failures", "run_missed",
               "run_verification_failed")
SEVERITIES = ("info", "warning", "critical")
CHECKS = {
    "run": {"status": ("running", "succeeded", "failed", "verification_failed")},
    "alert": {"type": RULE_EVENTS, "severity": SEVERITIES, "state": ("firing", "resolved")},
    "delivery": {"status": ("pending", "sending", "delivered", "dead"),
                 "event": ("alert.fired", "alert.repeated", "alert.resolved", "alert.test")},
    "rule": {"event": RULE_EVENTS, "severity": SEVERITIES},
    "endpoint": {"format": ("json", "slack", "discord", "template", "pagerduty", "ntfy", "teams"),
                 "signature_scheme": ("standard-webhooks", "hmac-sha256-hex", "timestamped-hmac-hex", "none")},
    "membership": {"role": ("owner", "member")},
}


def _condition(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade():
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(column, _condition(column, values))


def downgrade():
    for table, columns in reversed(list(CHECKS.items())):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
