"""Reading alerts and a person's actions on them, shared by the Alerts page and the JSON API.

Alerts are raised by `alerting.raising` and resolved automatically by `alerting.lifecycle`; this
module lists them (with their deliveries loaded for a whole page in one query) and records who
acknowledged, unacknowledged or resolved one, audited. Each action is one conditional UPDATE, so
two people clicking at once cannot overwrite each other, and only a change is audited.
"""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from webapp import validators
from webapp.extensions import db
from webapp.models import RULE_EVENTS, SEVERITIES, Alert, Delivery, Job, User
from webapp.services import audit
from webapp.services.alerting import lifecycle
from webapp.timeutil import utcnow

# An alert's type is the event of the rule that raised it.
ALERT_TYPES = RULE_EVENTS
# `?state=`: firing (every firing alert, acknowledged or not), acknowledged (firing and
# acknowledged), resolved.
STATE_FILTERS = ("firing", "acknowledged", "resolved")
MAX_NOTE = 500


class AlertResolved(Exception):
    """The alert is resolved already: it cannot be resolved, acknowledged or unacknowledged
    (the API answers 409 `conflict`)."""


class InvalidNote(ValueError):
    """An acknowledgement note that is not text or is too long."""


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
    state: str | None = None
    until: datetime | None = None


def parse_since(text: str) -> datetime:
    """A date (`2026-11-24`, from midnight UTC) or an ISO datetime; a time without a zone is UTC."""
    text = text.strip()
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    text = text.replace(" ", "+")  # an unencoded "+01:00" arrives as " 01:00" in a query string
    try:
        return validators.moment(text)
    except ValueError as error:
        raise InvalidFilter("since", f"since must be a date (2026-11-24) or a date and time "
                                     f"(2026-11-24T09:00:00Z) within the calendar, not {text[:40]!r}: "
                                     f"it {error}.") from None


def make_filter(*, alert_type: str | None = None, severity: str | None = None, job_slug: str | None = None,
                acknowledged: str | None = None, since: str | None = None,
                state: str | None = None) -> AlertFilter:
    """Filters from query-string text (empty means any); raises InvalidFilter for a bad value."""
    if alert_type and alert_type not in ALERT_TYPES:
        raise InvalidFilter("alert_type", f"Unknown alert type {alert_type[:40]!r}; "
                                          f"expected one of: {', '.join(ALERT_TYPES)}.")
    if severity and severity not in SEVERITIES:
        raise InvalidFilter("severity", f"Unknown severity {severity[:40]!r}; "
                                        f"expected one of: {', '.join(SEVERITIES)}.")
    if state and state not in STATE_FILTERS:
        raise InvalidFilter("state", f"Unknown state {state[:40]!r}; expected one of: {', '.join(STATE_FILTERS)}.")
    acknowledged_values = {"": None, "all": None, "yes": True, "true": True, "no": False, "false": False}
    if (acknowledged or "").lower() not in acknowledged_values:
        raise InvalidFilter("acknowledged", "acknowledged must be yes, no or all.")
    return AlertFilter(alert_type=alert_type or None, severity=severity or None,
                       job_slug=(job_slug or "").strip() or None,
                       acknowledged=acknowledged_values[(acknowledged or "").lower()],
                       since=parse_since(since) if since and since.strip() else None, state=state or None)


STATE_CONDITIONS = {
    "firing": Alert.state == "firing",
    "acknowledged": sa.and_(Alert.state == "firing", Alert.acknowledged_at.is_not(None)),
    "resolved": Alert.state == "resolved",
}


def filtered(workspace_id: int, filters: AlertFilter, *, unacknowledged_first: bool = False) -> sa.Select:
    """`select(Alert)` of one workspace with the filters, newest first (the page's Firing tab
    puts the unacknowledged ones first; the API always pages newest first)."""
    statement = _unordered(workspace_id, filters)
    if filters.state:
        statement = statement.where(STATE_CONDITIONS[filters.state])
    if unacknowledged_first:
        statement = statement.order_by(Alert.acknowledged_at.is_not(None))
    return statement.order_by(Alert.id.desc())


def state_counts(workspace_id: int, filters: AlertFilter) -> dict[str, int]:
    """How many alerts each state tab lists (and all of them), under the other filters, in one query."""
    columns = [sa.func.count().label("all")] + [
        sa.func.count().filter(condition).label(name) for name, condition in STATE_CONDITIONS.items()]
    return dict(db.session.execute(_unordered(workspace_id, filters).with_only_columns(*columns)).one()._mapping)


def _unordered(workspace_id: int, filters: AlertFilter) -> sa.Select:
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
    if filters.until:
        statement = statement.where(Alert.created_at <= filters.until)
    return statement


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


def people(alerts: list[Alert]) -> dict[int, str]:
    """user id → email of everyone who acknowledged or resolved one of `alerts` (one query)."""
    ids = {alert.acknowledged_by_id for alert in alerts if alert.acknowledged_by_id}
    ids |= {alert.resolved_by_id for alert in alerts if alert.resolved_by_id}
    if not ids:
        return {}
    return {user_id: email for user_id, email in db.session.execute(sa.select(User.id, User.email).where(User.id.in_(ids)))}


def clean_note(note) -> str | None:
    """An acknowledgement note: optional text up to 500 characters (blank means none)."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise InvalidNote("The note must be text.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidNote(f"The note is longer than {MAX_NOTE} characters.")
    return note or None


def _audit(alert: Alert, user_id: int | None, client_ip: str | None, action: str, summary: str) -> None:
    audit.record(workspace_id=alert.workspace_id, user_id=user_id, action=f"alert.{action}", object_type="alert",
                 object_id=alert.id, summary=f"{summary} alert #{alert.id}: {alert.message[:200]}",
                 client_ip=client_ip)


def acknowledge(alert: Alert, *, user_id: int | None, client_ip: str | None = None, note=None) -> bool:
    """Record who acknowledged the firing alert, when, and their optional note; it stops its
    repeats. An acknowledged alert stays as it was. Returns whether it changed; raises
    AlertResolved for a resolved alert and InvalidNote for a bad note."""
    note = clean_note(note)
    result = db.session.execute(
        sa.update(Alert).where(Alert.id == alert.id, Alert.state == "firing", Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow(), acknowledged_by_id=user_id, acknowledged_note=note, next_repeat_at=None)
        .execution_options(synchronize_session=False))
    db.session.refresh(alert)
    if result.rowcount != 1:
        if alert.state == "resolved":
            raise AlertResolved(f"Alert #{alert.id} is resolved; there is nothing to acknowledge.")
        return False
    _audit(alert, user_id, client_ip, "acknowledge", "acknowledged" + (f" (note: {note[:100]})" if note else ""))
    return True


def unacknowledge(alert: Alert, *, user_id: int | None, client_ip: str | None = None) -> bool:
    """Undo an acknowledgement of a firing alert (its note goes too); its repeats start again an
    interval from now. Returns whether it changed; raises AlertResolved for a resolved alert."""
    now = utcnow()
    result = db.session.execute(
        sa.update(Alert).where(Alert.id == alert.id, Alert.state == "firing", Alert.acknowledged_at.is_not(None))
        .values(acknowledged_at=None, acknowledged_by_id=None, acknowledged_note=None,
                next_repeat_at=lifecycle.first_repeat_at(alert.rule, now))
        .execution_options(synchronize_session=False))
    db.session.refresh(alert)
    if result.rowcount != 1:
        if alert.state == "resolved":
            raise AlertResolved(f"Alert #{alert.id} is resolved; it cannot be unacknowledged.")
        return False
    _audit(alert, user_id, client_ip, "unacknowledge", "unacknowledged")
    return True


def resolve(alert: Alert, *, user_id: int | None, client_ip: str | None = None) -> list[int]:
    """A person resolves the firing alert (audited); returns the new `alert.resolved` delivery
    ids for the send pool after the commit. Raises AlertResolved when it is resolved already."""
    resolved, delivery_ids = lifecycle.resolve_alerts(alert.workspace_id, [alert.id], resolved_by_id=user_id)
    db.session.refresh(alert)
    if not resolved:
        raise AlertResolved(f"Alert #{alert.id} is resolved already.")
    _audit(alert, user_id, client_ip, "resolve", "resolved")
    return delivery_ids


def act_on_many(workspace_id: int, alert_ids: list[int], action: str, *, user_id: int | None,
                client_ip: str | None = None) -> tuple[int, list[int]]:
    """Acknowledge or resolve the workspace's alerts among `alert_ids` (the Alerts page's
    selection); (how many changed, new delivery ids). Alerts that need no change are skipped."""
    alerts = db.session.scalars(sa.select(Alert).where(Alert.workspace_id == workspace_id,
                                                       Alert.id.in_(alert_ids)).order_by(Alert.id)).unique().all()
    changed, delivery_ids = 0, []
    for alert in alerts:
        try:
            if action == "resolve":
                delivery_ids += resolve(alert, user_id=user_id, client_ip=client_ip)
                changed += 1
            else:
                changed += acknowledge(alert, user_id=user_id, client_ip=client_ip)
        except AlertResolved:
            continue
    return changed, delivery_ids
