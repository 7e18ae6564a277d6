"""Counters of failed log-ins and of sign-ups, kept in the database so every process and host
that serves the dashboard counts the same attempts (no shared cache is needed)."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.timeutil import UTCDateTime


class AuthThrottle(db.Model):
    """One fixed window per key (`login-account:<hash of the email>`, `login-address:<ip>`,
    `signup-address:<ip>`); not tenant data, so it has no workspace."""

    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # pruned by age
    count: Mapped[int] = mapped_column(default=0)
