"""System events: alerting tells you when alerting itself breaks. `endpoint_disabled` (an
endpoint disabled automatically), `delivery_dead` (a delivery dead-lettered) and
`scheduler_stalled` (no scheduler heartbeat for 60 s) are rule events like any other: a rule on
one routes its alert to endpoints, with `data.system` in the payload (`formats.context`).

No loops: a system alert is never sent to the endpoint it is about (`Alert.system_endpoint_id`,
also honoured by its repeats and resolved notices), and the failure of a system alert's own
delivery (dead, or disabling its endpoint) raises no further system event.

Everything is written in the caller's transaction (the engine's outcome batch, the heartbeat
check), each event inside a savepoint so a failure here never costs the engine its outcome.
The deliveries raised go to this process's send pool once that transaction commits.
"""
import logging
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.models import SYSTEM_EVENTS, Alert, Delivery, Endpoint, Rule
from webapp.models.alerts import FIRING_STALL
from webapp.services.alerting import lifecycle, raising
from webapp.services.delivery import retry_policy
from webapp.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

_AFTER_COMMIT_KEY = "tocsin_system_deliveries"
_URL = re.compile(r"\s*(?:from\s+)?\b[a-z][a-z0-9+.-]*://[^\s,;)]*", re.IGNORECASE)


def without_urls(text: str | None) -> str:
    """`text` with every URL (even a masked one) and its "from" left out: what a log line or a
    system payload may say about a failure (a webhook URL can be the credential)."""
    return _URL.sub("", text or "").strip()


def is_system_alert(alert_type: str | None) -> bool:
    return alert_type in SYSTEM_EVENTS


def has_system_rule(workspace_id: int) -> bool:
    """Whether the workspace has any rule on a system event (else the overview offers one)."""
    return db.session.scalar(sa.select(sa.exists().where(Rule.workspace_id == workspace_id,
                                                         Rule.event.in_(SYSTEM_EVENTS)))) or False


# --- the three events ---------------------------------------------------------------------------

def endpoint_disabled(endpoint_id: int, reason: str, *, delivery_id: int | None = None) -> None:
    """The engine disabled this endpoint (a 404/410, or failing too long) while attempting
    `delivery_id`: raise `endpoint_disabled` in its workspace, unless that delivery carried a
    system alert (a system alert's failure raises nothing more)."""
    if delivery_id is not None and is_system_alert(_alert_type_of(delivery_id)):
        return
    endpoint = db.session.execute(sa.select(Endpoint.id, Endpoint.name, Endpoint.workspace_id)
                                  .where(Endpoint.id == endpoint_id)).first()
    if endpoint is None:
        return
    detail = without_urls(reason)
    _raise_safely(endpoint.workspace_id, "endpoint_disabled", endpoint=endpoint,
                  delivery_id=delivery_id, detail=detail,
                  message=f"Endpoint “{endpoint.name}” was disabled: {detail}")


def delivery_dead(delivery_id: int, reason: str | None) -> None:
    """A delivery was dead-lettered: raise `delivery_dead` in its workspace, unless it was a test
    send or carried a system alert itself."""
    row = db.session.execute(
        sa.select(Delivery.workspace_id, Delivery.is_test, Alert.type, Endpoint.id, Endpoint.name)
        .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
        .outerjoin(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.id == delivery_id)).first()
    if row is None or row.is_test or row.type is None or is_system_alert(row.type):
        return
    detail = without_urls(reason) or "dead"
    _raise_safely(row.workspace_id, "delivery_dead", endpoint=row, delivery_id=delivery_id,
                  detail=detail, message=f"A delivery to endpoint “{row.name}” failed for good: {detail}")


def scheduler_stalled(detail: str) -> int:
    """No scheduler heartbeat: raise `scheduler_stalled` in every workspace with an active rule
    on it, once per rule however many processes notice (the partial unique index on firing
    stall alerts makes a second INSERT a no-op). Returns how many alerts this call raised."""
    workspace_ids = db.session.scalars(sa.select(Rule.workspace_id).distinct().where(
        Rule.event == "scheduler_stalled", Rule.is_active.is_(True))).all()
    raised = 0
    for workspace_id in workspace_ids:
        raised += _raise_safely(workspace_id, "scheduler_stalled", endpoint=None, delivery_id=None,
                                detail=detail, message=f"The scheduler has stopped: {detail}. Retries, deadlines "
                                                       "and missed runs wait until it runs again.")
    return raised


def scheduler_returned() -> int:
    """A heartbeat is back: resolve every firing `scheduler_stalled` alert (each by exactly one
    process, with its `alert.resolved` notices); returns how many this call resolved."""
    resolved, delivery_ids = lifecycle.resolve_where([Alert.type == "scheduler_stalled"])
    if delivery_ids:
        by_workspace: dict[int, list[int]] = {}
        for delivery_id, workspace_id in db.session.execute(
                sa.select(Delivery.id, Delivery.workspace_id).where(Delivery.id.in_(delivery_ids))):
            by_workspace.setdefault(workspace_id, []).append(delivery_id)
        for workspace_id, ids in by_workspace.items():
            _send_after_commit(ids, workspace_id)
    return len(resolved)


def endpoint_enabled(endpoint_id: int, workspace_id: int) -> int:
    """Someone enabled the endpoint again: its firing `endpoint_disabled` alerts are over
    (resolved automatically, with their `alert.resolved` notices). Returns how many."""
    resolved, delivery_ids = lifecycle.resolve_where([Alert.workspace_id == workspace_id,
                                                      Alert.type == "endpoint_disabled",
                                                      Alert.system_endpoint_id == endpoint_id])
    _send_after_commit(delivery_ids, workspace_id)
    return len(resolved)


# Whether the heartbeat check has anything to do: an active scheduler_stalled rule without a
# firing alert (to raise while stalled), a firing scheduler_stalled alert (to resolve once a
# heartbeat is back). One statement, read on its own connection by the check.
_STALL_ALERT = sa.orm.aliased(Alert)
STALL_CHECK = sa.select(
    sa.exists().where(Rule.event == "scheduler_stalled", Rule.is_active.is_(True),
                      ~sa.exists().where(_STALL_ALERT.rule_id == Rule.id, _STALL_ALERT.type == "scheduler_stalled",
                                         _STALL_ALERT.state == "firing")),
    sa.exists().where(Alert.type == "scheduler_stalled", Alert.state == "firing"))


# --- raising ------------------------------------------------------------------------------------

def _raise_safely(workspace_id: int, event: str, **values) -> int:
    """`_raise` inside a savepoint: a failure is logged and undone, the caller's writes stay."""
    try:
        with db.session.begin_nested():
            alerts, delivery_ids = _raise(workspace_id, event, **values)
    except Exception:
        log.exception("raising %s in workspace %s failed; the engine's own outcome is kept", event, workspace_id)
        return 0
    _send_after_commit(delivery_ids, workspace_id)
    return alerts


def _raise(workspace_id: int, event: str, *, endpoint, delivery_id: int | None, detail: str,
           message: str) -> tuple[int, list[int]]:
    """One alert per active rule of the workspace on `event` (or, within the rule's cooldown, a
    repeat counted on its firing alert about the same endpoint), with a pending delivery to each
    of the rule's live endpoints but the one the event is about. Returns (alerts raised, ids)."""
    now = utcnow()  # the real moment they are written (a check may be told another time)
    endpoint_id = endpoint.id if endpoint is not None else None
    system = {"event": event,
              "endpoint": {"id": str(endpoint.id), "name": endpoint.name} if endpoint is not None else None,
              "delivery_id": None if delivery_id is None else str(delivery_id), "detail": detail[:500]}
    connection = db.session.connection()
    raised, delivery_ids = 0, []
    for rule in raising.active_rule_rows(workspace_id, (event,)):
        if event != "scheduler_stalled" and _counted_as_repeat(rule, endpoint_id, now):
            continue
        values = {"workspace_id": workspace_id, "rule_id": rule.id, "job_id": None, "run_id": None, "type": event,
                  "severity": rule.severity, "message": message[:2000], "system_endpoint_id": endpoint_id,
                  "metadata": {"rule": {"id": rule.id, "name": rule.name, "event": rule.event}, "system": system},
                  "repeat_count": 1, "last_seen_at": now, "created_at": now, "state": "firing",
                  "next_repeat_at": lifecycle.first_repeat_at(rule, now)}
        alert_id = connection.execute(_INSERT_ALERT[connection.dialect.name], values).scalar()
        if alert_id is None:
            continue  # another process raised this stall for this rule first
        raised += 1
        rows = [{"workspace_id": workspace_id, "alert_id": alert_id, "endpoint_id": target.id, "rule_id": rule.id,
                 "max_attempts": retry_policy.attempt_budget(rule.max_attempts, target.max_attempts),
                 "status": "pending", "next_attempt_at": now, "created_at": now, "updated_at": now}
                for target in rule.endpoints
                if target.is_active and target.deleted_at is None and target.workspace_id == workspace_id
                and target.id != endpoint_id]
        if rows:
            delivery_ids += connection.execute(raising.INSERT_DELIVERIES, rows).scalars().all()
    return raised, delivery_ids


def _insert_alert(insert):
    """A stall alert conflicts with its rule's firing one (uq_alert_firing_scheduler_stalled):
    DO NOTHING, so the second process to notice inserts nothing and no transaction is spoilt."""
    return (insert(Alert).on_conflict_do_nothing(index_elements=["rule_id"], index_where=sa.text(FIRING_STALL))
            .returning(Alert.id))


_INSERT_ALERT = {"postgresql": _insert_alert(postgresql.insert), "sqlite": _insert_alert(sqlite.insert)}


def _counted_as_repeat(rule, endpoint_id: int | None, now: datetime) -> bool:
    """Within the cooldown, a second event about the same endpoint (a burst of dead deliveries)
    counts on the rule's firing alert instead of raising another."""
    if not rule.cooldown_seconds or rule.cooldown_seconds <= 0:
        return False
    recent = db.session.scalar(
        sa.select(Alert.id).where(Alert.rule_id == rule.id, Alert.state == "firing",
                                  Alert.system_endpoint_id == endpoint_id,
                                  Alert.last_seen_at >= now - timedelta(seconds=rule.cooldown_seconds))
        .order_by(Alert.id.desc()).limit(1))
    if recent is None:
        return False
    db.session.execute(sa.update(Alert).where(Alert.id == recent)
                       .values(repeat_count=Alert.repeat_count + 1, last_seen_at=now)
                       .execution_options(synchronize_session=False))
    return True


def _alert_type_of(delivery_id: int) -> str | None:
    return db.session.scalar(sa.select(Alert.type).join(Delivery, Delivery.alert_id == Alert.id)
                             .where(Delivery.id == delivery_id))


# --- sending after the caller's commit ----------------------------------------------------------

def _send_after_commit(delivery_ids: list[int], workspace_id: int) -> None:
    if delivery_ids:
        db.session.info.setdefault(_AFTER_COMMIT_KEY, []).append((workspace_id, list(delivery_ids)))


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _hand_to_pool(session) -> None:
    """Committed: this process's send pool attempts them now (else the retry job does, later).
    No SQL here (the session has no transaction): each group names its workspace."""
    groups = session.info.pop(_AFTER_COMMIT_KEY, None)
    if not groups or not has_app_context():
        return
    from webapp.services.delivery import pool

    app = current_app._get_current_object()
    for workspace_id, delivery_ids in groups:
        pool.send_after_commit(app, delivery_ids, workspace_id)


@sa.event.listens_for(sa.orm.Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


def stall_detail(latest_beat: datetime | None, now: datetime) -> str:
    """"no heartbeat for 3 min (last at 2026-11-24T09:00:00Z)", or that none ever ran."""
    if latest_beat is None:
        return "no scheduler has ever sent a heartbeat"
    took = raising.format_duration(int((now - latest_beat).total_seconds() * 1000))
    return f"no heartbeat for {took} (last at {isoformat(latest_beat)})"
