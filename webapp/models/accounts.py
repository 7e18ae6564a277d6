"""Users, workspaces (the tenant), memberships and API keys."""
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.timeutil import UTCDateTime, utcnow

# owner: everything, manages members; admin: everything but members; viewer: reads every page.
MEMBER_ROLES = ("owner", "admin", "viewer")
INVITE_ROLES = ("admin", "viewer")  # what an invite grants; owners are made on the members page
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

    # The workspace the current browser session works in (set when the session loads, see
    # services/user_sessions.py); None outside a request: the first membership then.
    session_workspace_id = None

    @property
    def workspace_id(self) -> int | None:
        """The workspace this user works in: the session's, if still a member, else the first."""
        membership = self.membership_in(self.session_workspace_id) if self.session_workspace_id else None
        if membership is None:
            membership = self.memberships[0] if self.memberships else None
        return membership.workspace_id if membership else None

    def membership_in(self, workspace_id: int | None) -> "Membership | None":
        return next((m for m in self.memberships if m.workspace_id == workspace_id), None)

    @property
    def role(self) -> str | None:
        """The role in the current workspace (owner, admin or viewer)."""
        membership = self.membership_in(self.workspace_id)
        return membership.role if membership else None


class Membership(db.Model):
    __table_args__ = (sa.UniqueConstraint("user_id", "workspace_id"), one_of("role", MEMBER_ROLES))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer")  # MEMBER_ROLES
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship(lazy="joined")


class UserSession(db.Model):
    """One signed-in browser: its identity string (`<user>.<version>.<token>`, see
    services/user_sessions.py) names this row by the token's hash, so ending a session on the
    server ends its cookie and its remember-me cookie at once."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    workspace_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workspace.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_ip: Mapped[str] = mapped_column(sa.String(45), default="", server_default="")
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
