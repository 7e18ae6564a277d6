"""Users, workspaces (the tenant), memberships and API keys."""
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.timeutil import UTCDateTime, utcnow

MEMBER_ROLES = ("owner", "member")
# What an API key may do: `ingest` reports, finishes and reads runs (what a cron host needs);
# `full` is everything the API does. Enforced in one place: webapp/blueprints/api/scopes.py.
API_KEY_SCOPES = ("ingest", "full")

class Workspace(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session and remember-me cookie (see `get_id`): raising it on log-out ends
    # every session of this user, on every browser, at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # IANA name (`Europe/Paris`) the pages show times in; empty means "the browser's".
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="user", order_by="Membership.id", lazy="selectin"
    )

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: `<id>.<version>`."""
        return f"{self.id}.{self.session_version}"

    @property
    def workspace_id(self) -> int | None:
        """The workspace this user works in (their first membership)."""
        return self.memberships[0].workspace_id if self.memberships else None


class Membership(db.Model):
    __table_args__ = (sa.UniqueConstraint("user_id", "workspace_id"), one_of("role", MEMBER_ROLES))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16), default="owner")  # MEMBER_ROLES
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship(lazy="joined")


class ApiKey(db.Model):
    __table_args__ = (one_of("scope", API_KEY_SCOPES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    # Keys made before scopes existed could do everything: they stay `full` (migration 0017).
    scope: Mapped[str] = mapped_column(sa.String(16), default="full", server_default="full")  # API_KEY_SCOPES
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(lazy="joined")
    workspace: Mapped[Workspace] = relationship(lazy="joined")
