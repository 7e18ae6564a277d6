"""Reading and acknowledging alerts, shared by the Alerts page and the JSON API.

Alerts are raised by `alerting.raising`; this module only lists them (with their deliveries loaded
for a whole page in one query) and records who acknowledged one, audited.
"""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import RULE_EVENTS, SEVERITIES, Alert, Delivery, Job, User
from webapp.services import audit
from webapp.timeutil import utcnow

# An alert's type is the event of the rule that raised it.
ALERT_TYPES = RULE_EVENTS


class InvalidFilter(ValueError):
    """A filter value the list cannot use; the message says which and why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class AlertFilter:
    """The filters of the alerts list; None means "any"."""

    alert_type: str | None = None
    severity: str | None = None
    job_slug: str | None = None
    acknowledged: bool | None = None
    since: datetime | None = None


def parse_since(text: str) -> datetime:
    """A date (`2026-11-24`, from midnight UTC) or an ISO datetime; a time without a zone is UTC."""
    text = text.strip()
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    text = text.replace(" ", "+")  # an unencoded "+01:00" arrives as " 01:00" in a query string
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter("since", f"since must be a date (2026-11-24) or a date and time "
                                     f"(2026-11-24T09:00:00Z), not {text[:40]!r}.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_filter(*, alert_type: str | None = None, severity: str | None = None, job_slug: str | None = None,
                acknowledged: str | None = None, since: str | None = None) -> AlertFilter:
    """Filters from query-string text (empty means any); raises InvalidFilter for a bad value."""
    if alert_type and alert_type not in ALERT_TYPES:
        raise InvalidFilter("alert_type", f"Unknown alert type {alert_type[:40]!r}; "
                                          f"expected one of: {', '.join(ALERT_TYPES)}.")
    if severity and severity not in SEVERITIES:
        raise InvalidFilter("severity", f"Unknown severity {severity[:40]!r}; "
                                        f"expected one of: {', '.join(SEVERITIES)}.")
    acknowledged_values = {"": None, "all": None, "yes": True, "true": True, "no": False, "false": False}
    if (acknowledged or "").lower() not in acknowledged_values:
        raise InvalidFilter("acknowledged", "acknowledged must be yes, no or all.")
    return AlertFilter(alert_type=alert_type or None, severity=severity or None,
                       job_slug=(job_slug or "").strip() or None,
                       acknowledged=acknowledged_values[(acknowledged or "").lower()],
                       since=parse_since(since) if since and since.strip() else None)


def filtered(workspace_id: int, filters: AlertFilter) -> sa.Select:
    """`select(Alert)` of one workspace with the filters, newest first."""
    statement = sa.select(Alert).where(Alert.workspace_id == workspace_id)
    if filters.alert_type:
        statement = statement.where(Alert.type == filters.alert_type)
    if filters.severity:
        statement = statement.where(Alert.severity == filters.severity)
    if filters.job_slug:
        job_ids = sa.select(Job.id).where(Job.workspace_id == workspace_id, Job.slug == filters.job_slug)
        statement = statement.where(Alert.job_id.in_(job_ids))
    if filters.acknowledged is True:
        statement = statement.where(Alert.acknowledged_at.is_not(None))
    elif filters.acknowledged is False:
        statement = statement.where(Alert.acknowledged_at.is_(None))
    if filters.since:
        statement = statement.where(Alert.created_at >= filters.since)
    return statement.order_by(Alert.id.desc())


def deliveries_by_alert(alerts: list[Alert]) -> dict[int, list[Delivery]]:
    """Each alert's deliveries (with their endpoints), read for the whole page in one query."""
    result: dict[int, list[Delivery]] = {alert.id: [] for alert in alerts}
    if not alerts:
        return result
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id.in_(list(result)))
                              .order_by(Delivery.id)).unique()
    for delivery in rows:
        result[delivery.alert_id].append(delivery)
    return result


def acknowledgers(alerts: list[Alert]) -> dict[int, str]:
    """user id → email of everyone who acknowledged one of `alerts` (one query)."""
    ids = {alert.acknowledged_by_id for alert in alerts if alert.acknowledged_by_id}
    if not ids:
        return {}
    return {user_id: email for user_id, email in db.session.execute(sa.select(User.id, User.email).where(User.id.in_(ids)))}


def acknowledge(alert: Alert, *, user_id: int | None, client_ip: str | None = None) -> bool:
    """Record who acknowledged the alert and when; an acknowledged alert stays as it was (one
    conditional UPDATE, so two people clicking at once cannot overwrite each other).
    Returns whether it changed (only a change is audited)."""
    result = db.session.execute(
        sa.update(Alert).where(Alert.id == alert.id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow(), acknowledged_by_id=user_id)
        .execution_options(synchronize_session=False))
    db.session.refresh(alert)
    if result.rowcount != 1:
        return False
    audit.record(workspace_id=alert.workspace_id, user_id=user_id, action="alert.acknowledge",
                 object_type="alert", object_id=alert.id,
                 summary=f"acknowledged alert #{alert.id}: {alert.message[:200]}", client_ip=client_ip)
    return True
