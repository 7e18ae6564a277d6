"""Endpoint health as the delivery engine sees it: when a failure streak began, and when to give up.

`failing_since` marks the first failure of the current unbroken streak and is cleared by the
next success. After TOCSIN_DISABLE_AFTER_HOURS of nothing but failures, or at once on a
404/410, the endpoint is disabled with a reason its page shows; the user can re-enable it.
Every write is a conditional UPDATE, so concurrent attempts never undo each other.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Endpoint
from webapp.services import audit

_UNKNOWN = object()


def record_attempt(endpoint_id: int, succeeded: bool, now: datetime, *, known_failing_since=_UNKNOWN) -> None:
    """Start or end the failure streak; disable the endpoint when the streak is too long.

    `known_failing_since`, the endpoint's value as read before the attempt, saves the writes
    that would change nothing (a success with no streak, a failure inside one)."""
    if succeeded:
        if known_failing_since is not None:
            _update(endpoint_id, Endpoint.failing_since.is_not(None), failing_since=None)
        return
    failing_since = known_failing_since
    if failing_since is _UNKNOWN or failing_since is None:
        _update(endpoint_id, Endpoint.failing_since.is_(None), failing_since=now)
        failing_since = db.session.scalar(sa.select(Endpoint.failing_since).where(Endpoint.id == endpoint_id))
    hours = float(current_app.config.get("TOCSIN_DISABLE_AFTER_HOURS", 72.0))
    if failing_since is not None and now - failing_since >= timedelta(hours=hours):
        disable(endpoint_id, f"disabled after {hours:g} hours of failed deliveries "
                             f"(failing since {failing_since:%Y-%m-%d %H:%M} UTC)", now)


def disable(endpoint_id: int, reason: str, now: datetime) -> bool:
    """Disable an active endpoint with `reason` (audited); False when it was already disabled."""
    disabled = _update(endpoint_id, Endpoint.is_active.is_(True), Endpoint.deleted_at.is_(None),
                       is_active=False, disabled_reason=reason[:500], disabled_at=now)
    if disabled:
        workspace_id = db.session.scalar(sa.select(Endpoint.workspace_id).where(Endpoint.id == endpoint_id))
        audit.record(workspace_id=workspace_id, user_id=None, action="endpoint.auto_disable",
                     object_type="endpoint", object_id=endpoint_id, summary=reason)
    return disabled


def _update(endpoint_id: int, *conditions, **values) -> bool:
    return bool(db.session.execute(
        sa.update(Endpoint).where(Endpoint.id == endpoint_id, *conditions).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount)
