"""Who did what to which object, when, and from where."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.accounts import ApiKey, User
from webapp.timeutil import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __table_args__ = (sa.Index("ix_audit_event_workspace_id_id", "workspace_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # The API key a request through /api/v1 came with (`user_id` is then the key's creator).
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_key.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    # An edit's fields as {name: [old, new]}, or {name: "changed"} for a secret (never its value);
    # None for events that change no fields, and for edits recorded before 0016.
    changes: Mapped[dict | None] = mapped_column(sa.JSON)
    # The object's name when the event was recorded, shown once the object itself is gone.
    object_name: Mapped[str | None] = mapped_column(sa.String(200))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")
    api_key: Mapped[ApiKey | None] = relationship(lazy="joined")
