"""Alert rules: which run outcomes raise an alert, and where it goes."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.models.endpoints import Endpoint
from webapp.timeutil import UTCDateTime, utcnow

RUN_EVENTS = ("run_failed", "run_succeeded", "run_timed_out", "run_slow", "consecutive_failures", "run_missed",
              "run_verification_failed")
# Events about alerting itself (services/alerting/system_events.py): they take no job filter,
# never go to the endpoint they are about, and a system alert's own failure raises none.
SYSTEM_EVENTS = ("endpoint_disabled", "delivery_dead", "scheduler_stalled")
RULE_EVENTS = RUN_EVENTS + SYSTEM_EVENTS
# Each event's name wherever one is listed (alerts, rules, filters) …
EVENT_LABELS = {"run_failed": "Run failed", "run_succeeded": "Run succeeded", "run_timed_out": "Run timed out",
                "run_slow": "Run slow", "consecutive_failures": "Consecutive failures", "run_missed": "Run missed",
                "run_verification_failed": "Verification failed", "endpoint_disabled": "Endpoint disabled",
                "delivery_dead": "Delivery failed", "scheduler_stalled": "Scheduler stalled"}
# … and as the end of the rule form's sentence "Alert when …".
EVENT_CONDITIONS = {
    "run_failed": "a run fails",
    "run_succeeded": "a run succeeds",
    "run_timed_out": "a run misses its deadline",
    "run_slow": "a run is slower than a threshold",
    "consecutive_failures": "a job fails several times in a row",
    "run_missed": "a scheduled job does not run in time",
    "run_verification_failed": "a run's own check of its result fails",
    "endpoint_disabled": "an endpoint is disabled automatically (404/410, or failing for days)",
    "delivery_dead": "a delivery uses up its attempts",
    "scheduler_stalled": "the scheduler stops (no heartbeat for 60 s)",
}
SEVERITIES = ("info", "warning", "critical")
DEFAULT_CONSECUTIVE_COUNT = 3  # failures in a row that a consecutive_failures rule waits for

rule_endpoint = sa.Table(
    "rule_endpoint",
    db.metadata,
    sa.Column("rule_id", sa.ForeignKey("rule.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("endpoint_id", sa.ForeignKey("endpoint.id", ondelete="CASCADE"), primary_key=True),
)


class Rule(db.Model):
    __table_args__ = (sa.Index("ix_rule_workspace_id_event", "workspace_id", "event"), one_of("event", RULE_EVENTS),
                      one_of("severity", SEVERITIES))

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    event: Mapped[str] = mapped_column(sa.String(32))
    job_filter: Mapped[str | None] = mapped_column(sa.String(200))  # glob on the slug; None = all
    threshold_seconds: Mapped[int | None] = mapped_column()
    consecutive_count: Mapped[int | None] = mapped_column()
    severity: Mapped[str] = mapped_column(sa.String(16), default="warning")
    # Overrides the endpoints' own attempt budget for this rule's alerts (None: theirs).
    max_attempts: Mapped[int | None] = mapped_column()
    cooldown_seconds: Mapped[int] = mapped_column(default=300)
    # When its alert resolves, its endpoints get `alert.resolved`; while it fires unacknowledged,
    # `alert.repeated` every `repeat_interval_seconds` (None: never).
    notify_on_resolve: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    repeat_interval_seconds: Mapped[int | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    endpoints: Mapped[list[Endpoint]] = relationship(secondary=rule_endpoint, lazy="selectin")
