"""Invites: a single-use link that lets one email address join one workspace.

Only a hash of the token is stored (like API keys), so a copy of the database opens no
workspace. The invite names the role it grants (admin or viewer).
"""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.accounts import INVITE_ROLES, User, Workspace
from webapp.models.checks import one_of
from webapp.timeutil import UTCDateTime, utcnow


class Invite(db.Model):
    __table_args__ = (sa.Index("ix_invite_workspace_id_id", "workspace_id", "id"), one_of("role", INVITE_ROLES))

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(254))  # normalised like accounts.normalise_email
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer", server_default="viewer")  # INVITE_ROLES
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    workspace: Mapped[Workspace] = relationship(lazy="joined")
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id], lazy="joined")
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id], lazy="joined")

    def status(self, now: datetime) -> str:
        """pending, accepted, revoked or expired, for the invites page."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"
