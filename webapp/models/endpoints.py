"""Webhook endpoints: where alerts are delivered. The URL, secrets and header values are encrypted."""
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.services import crypto
from webapp.timeutil import UTCDateTime, utcnow

# What the payload formats (services/formats) and signature schemes (services/signing) are
# called; a test keeps these in step with those registries.
ENDPOINT_FORMATS = ("json", "slack", "discord", "template", "pagerduty", "ntfy", "teams")
SIGNATURE_SCHEMES = ("standard-webhooks", "hmac-sha256-hex", "timestamped-hmac-hex", "none")
DEFAULT_MAX_ATTEMPTS = 8  # delivery attempts of an alert when neither its rule nor its endpoint says otherwise


class Endpoint(db.Model):
    __table_args__ = (sa.Index("ix_endpoint_workspace_id_deleted_at", "workspace_id", "deleted_at"),
                      one_of("format", ENDPOINT_FORMATS), one_of("signature_scheme", SIGNATURE_SCHEMES))

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    # The URL is a credential (a Slack, Discord or Teams URL is all it takes to post): a Fernet
    # token, read and written only through `url` below; the host alone is kept in clear.
    url_encrypted: Mapped[str] = mapped_column(sa.Text)
    url_host: Mapped[str] = mapped_column(sa.String(255))
    # Fernet tokens (see services/crypto.py); never the clear value.
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {"Header-Name": "<fernet token of the value>"}
    headers_encrypted: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # How attempts are signed (services/signing); the header names apply to the hex schemes only.
    signature_scheme: Mapped[str] = mapped_column(sa.String(32), default="standard-webhooks",
                                                  server_default="standard-webhooks")
    signature_header: Mapped[str | None] = mapped_column(sa.String(100))
    signature_header_prefix: Mapped[str | None] = mapped_column(sa.String(60))
    # The receiver's own credential (Fernet tokens): a PagerDuty routing key, an ntfy access token.
    routing_key_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    access_token_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    format: Mapped[str] = mapped_column(sa.String(16), default="json")
    template: Mapped[str | None] = mapped_column(sa.Text)
    timeout_seconds: Mapped[int] = mapped_column(default=10)
    # Retry policy: the delays after the 1st, 2nd, … failed attempt (None: the default schedule)
    # and the attempt budget of its deliveries, unless their rule sets one.
    retry_delays_seconds: Mapped[list | None] = mapped_column(sa.JSON)
    max_attempts: Mapped[int] = mapped_column(default=DEFAULT_MAX_ATTEMPTS, server_default="8")
    # Keep only the newest N finished deliveries of this endpoint (None: by age only).
    history_limit: Mapped[int | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First failure of the current unbroken run of failures (None when the last attempt succeeded).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def url(self) -> str | None:
        """The URL in clear (crypto.DecryptionError when no configured key reads it)."""
        return crypto.decrypt(self.url_encrypted) if self.url_encrypted is not None else None

    @url.setter
    def url(self, value: str) -> None:
        self.url_encrypted = crypto.encrypt(value)
        self.url_host = host_of_url(value)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def host_of_url(url: str) -> str:
    """What `url_host` keeps in clear: the host name, lower-case, without port or path."""
    try:
        return (urlsplit(url.strip()).hostname or "")[:255]
    except ValueError:
        return ""
