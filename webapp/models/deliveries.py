"""Deliveries (one alert to one endpoint, or one test send) and their HTTP attempts."""
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.alerts import PAYLOAD_TYPES, Alert
from webapp.models.checks import one_of
from webapp.models.endpoints import DEFAULT_MAX_ATTEMPTS, Endpoint
from webapp.timeutil import UTCDateTime, utcnow

DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead")


def new_message_id() -> str:
    """A Standard Webhooks message id (`msg_…`), fixed for the life of the delivery."""
    return "msg_" + secrets.token_hex(13)


class Delivery(db.Model):
    __table_args__ = (
        one_of("status", DELIVERY_STATUSES),
        one_of("event", (*PAYLOAD_TYPES, "alert.test")),
        sa.Index("ix_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_delivery_status_lease_until", "status", "lease_until"),
        sa.Index("ix_delivery_workspace_id_id", "workspace_id", "id"),
        # The history filtered by a queue or dead-letter status: a page reads `limit` entries in id order.
        sa.Index("ix_delivery_workspace_id_status_id", "workspace_id", "status", "id"),
        sa.Index("ix_delivery_endpoint_id_id", "endpoint_id", "id"),
        sa.Index("ix_delivery_rule_id_id", "rule_id", "id"),
        sa.Index("ix_delivery_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    # The webhook-id header: the same on every attempt so receivers can drop duplicates.
    message_id: Mapped[str] = mapped_column(sa.String(40), unique=True, default=new_message_id)
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("endpoint.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rule.id", ondelete="SET NULL"))
    is_test: Mapped[bool] = mapped_column(default=False)
    # The payload type this delivery carries (models.alerts.PAYLOAD_TYPES; a test send: alert.test).
    event: Mapped[str] = mapped_column(sa.String(32), default="alert.fired", server_default="alert.fired")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=DEFAULT_MAX_ATTEMPTS)
    # Attempts made before the current round (0 until a Redeliver / Retry all dead starts a new one):
    # the engine compares attempt_count with max_attempts; people see "attempt (count - base) of (max - base)".
    round_base_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_http_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    last_duration_ms: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    alert: Mapped[Alert | None] = relationship(lazy="joined")
    endpoint: Mapped[Endpoint] = relationship(lazy="joined")


class DeliveryAttempt(db.Model):
    __table_args__ = (sa.Index("ix_delivery_attempt_delivery_id_number", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("delivery.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    duration_ms: Mapped[int | None] = mapped_column()
    http_status: Mapped[int | None] = mapped_column()
    # success | client_error | server_error | timeout | connection | tls | blocked | template | redirect | skipped
    outcome: Mapped[str] = mapped_column(sa.String(16))
    request_headers: Mapped[dict | None] = mapped_column(sa.JSON)  # signature values masked
    request_body: Mapped[str | None] = mapped_column(sa.Text)
    response_excerpt: Mapped[str | None] = mapped_column(sa.String(1024))
    # The receiver's answer headers, capped (outbound.http.RESPONSE_HEADER_*) and credentials masked.
    response_headers: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
