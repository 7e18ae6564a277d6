"""Silences: windows in which matching alerts are recorded but not delivered, and the holds
that keep a silenced alert's deliveries until its silence ends."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.timeutil import UTCDateTime, utcnow

HOLD_OUTCOMES = ("delivered", "dropped")


class Silence(db.Model):
    """One-off (`starts_at` … `ends_at`) or weekly (`weekly` = {"weekdays", "start_time",
    "end_time", "timezone"}, in force from `starts_at` until `ends_at`, open-ended when null).
    It matches an alert when every condition it has matches: `job_filter` (a glob on the job's
    slug, as rules have), `rule_id`, `endpoint_id`; it has at least one."""

    __table_args__ = (sa.Index("ix_silence_workspace_id_ends_at", "workspace_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    job_filter: Mapped[str | None] = mapped_column(sa.String(200))
    rule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rule.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(sa.ForeignKey("endpoint.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    weekly: Mapped[dict | None] = mapped_column(sa.JSON)
    comment: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SilenceHold(db.Model):
    """One delivery a silence kept back: the alert, the endpoint it would have gone to, and, once
    the release job has taken it (exactly once, by a guarded UPDATE), when and how it ended:
    `delivered` (a pending delivery was written then) or `dropped` (the alert had resolved)."""

    __table_args__ = (
        one_of("outcome", HOLD_OUTCOMES),
        # The release job reads only the holds not yet released.
        sa.Index("ix_silence_hold_unreleased", "released_at",
                 sqlite_where=sa.text("released_at IS NULL"), postgresql_where=sa.text("released_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoint.id", ondelete="CASCADE"))
    silence_id: Mapped[int | None] = mapped_column(sa.ForeignKey("silence.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery.id", ondelete="SET NULL"))
