"""Alerts raised by rules."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.models.endpoints import Endpoint
from webapp.models.jobs import Job, Run
from webapp.models.rules import RULE_EVENTS, SEVERITIES, Rule
from webapp.timeutil import UTCDateTime, utcnow

ALERT_STATES = ("firing", "resolved")
# The payload types of an alert's deliveries (a test send is `alert.test`).
PAYLOAD_TYPES = ("alert.fired", "alert.repeated", "alert.resolved")
FIRING_STALL = "type = 'scheduler_stalled' AND state = 'firing'"


class Alert(db.Model):
    __table_args__ = (
        one_of("type", RULE_EVENTS),
        one_of("severity", SEVERITIES),
        one_of("state", ALERT_STATES),
        sa.Index("ix_alert_workspace_id_created_at", "workspace_id", "created_at"),
        sa.Index("ix_alert_rule_id_job_id_created_at", "rule_id", "job_id", "created_at"),
        sa.Index("ix_alert_job_id_state", "job_id", "state"),
        # Firing alerts whose rule repeats them: the repeat sweep reads only those that are due.
        sa.Index("ix_alert_next_repeat_at", "next_repeat_at",
                 sqlite_where=sa.text("next_repeat_at IS NOT NULL"),
                 postgresql_where=sa.text("next_repeat_at IS NOT NULL")),
        # One firing scheduler_stalled alert per rule: of two processes noticing the same stall,
        # the second one's INSERT conflicts and raises nothing (system_events.check_scheduler).
        sa.Index("uq_alert_firing_scheduler_stalled", "rule_id", unique=True,
                 sqlite_where=sa.text(FIRING_STALL), postgresql_where=sa.text(FIRING_STALL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rule.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("job.id", ondelete="SET NULL"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"), index=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.String(2000))
    alert_metadata: Mapped[dict | None] = mapped_column("metadata", sa.JSON)
    repeat_count: Mapped[int] = mapped_column(default=1)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_note: Mapped[str | None] = mapped_column(sa.String(500))
    state: Mapped[str] = mapped_column(sa.String(16), default="firing", server_default="firing")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # When the next `alert.repeated` is due (firing, unacknowledged, and its rule repeats); else null.
    next_repeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The silence that held this alert's deliveries when it was raised (webapp/services/silences.py).
    silenced_by: Mapped[int | None] = mapped_column(sa.ForeignKey("silence.id", ondelete="SET NULL"))
    # The endpoint a system alert (endpoint_disabled, delivery_dead) is about: never sent there.
    system_endpoint_id: Mapped[int | None] = mapped_column(sa.ForeignKey("endpoint.id", ondelete="SET NULL"))

    rule: Mapped[Rule | None] = relationship(lazy="joined")
    job: Mapped[Job | None] = relationship(lazy="joined")
    run: Mapped[Run | None] = relationship()
    system_endpoint: Mapped[Endpoint | None] = relationship(foreign_keys=[system_endpoint_id])
