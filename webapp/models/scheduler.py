"""Heartbeats of scheduler processes, so the dashboard can tell when none is running."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.timeutil import UTCDateTime, utcnow


class SchedulerHeartbeat(db.Model):
    """One row per scheduler process; not tenant data, so it has no workspace."""

    __table_args__ = (sa.UniqueConstraint("host", "pid", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
