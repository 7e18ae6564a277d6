"""The alert lifecycle: firing → resolved (automatically on the job's next success, or by a
person), and `alert.repeated` while an alert fires unacknowledged.

Every change is written in the caller's transaction (flush, never commit), with the deliveries
it calls for, so they become visible together and sending starts after that commit. The one
exception is `sweep_repeats`, a scheduler job that commits its own batches.
A notification goes where the alert went: the live endpoints of its earlier deliveries, or,
when it reached none, its rule's live endpoints.
"""
import logging
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from webapp import wakeups
from webapp.database import end_read, serialised_writes
from webapp.extensions import db
from webapp.models import Alert, Delivery, Endpoint, Rule
from webapp.services.delivery import pool, retry_policy
from webapp.services.silences import holding
from webapp.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# Which firing alerts of a job a finished run resolves: a success ends a failure, a timeout or
# a missed run; a run under the threshold ends a slow-run alert.
RESOLVED_BY_SUCCESS = ("run_failed", "consecutive_failures", "run_timed_out", "run_missed",
                       "run_verification_failed")
RESOLVED_BY_A_FAST_RUN = ("run_slow",)
REPEAT_BATCH = 200
_WAKE_KEY = "tocsin_wake_at"


def resolve_firing(workspace_id: int, job_id: int, types: tuple[str, ...], *, rule_id: int | None = None,
                   resolved_by_id: int | None = None, now: datetime | None = None) -> list[int]:
    """Resolve every firing alert of this job (and rule, when given) of these types. Returns the
    ids of the new deliveries this calls for (`alert.resolved` to the endpoints of rules with
    `notify_on_resolve`), for the caller to hand to the send pool after its commit.
    `resolved_by_id` None means automatic."""
    conditions = [Alert.workspace_id == workspace_id, Alert.job_id == job_id, Alert.type.in_(types)]
    if rule_id is not None:
        conditions.append(Alert.rule_id == rule_id)
    return _resolve(conditions, resolved_by_id, now or utcnow())[1]


def resolve_alerts(workspace_id: int, alert_ids: list[int], *, resolved_by_id: int | None,
                   now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Resolve these alerts of the workspace that still fire (a person's Resolve); returns
    (the alert ids this call resolved, the new delivery ids). An alert resolved meanwhile (by a
    success or another person) is left out, so each resolution is notified once."""
    if not alert_ids:
        return [], []
    return _resolve([Alert.workspace_id == workspace_id, Alert.id.in_(alert_ids)], resolved_by_id, now or utcnow())


def resolve_where(conditions: list, *, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Resolve (automatically) the firing alerts matching `conditions`, in any workspace: a
    system condition that ended (a scheduler heartbeat is back). Returns (alert ids, delivery ids)."""
    return _resolve(conditions, None, now or utcnow())


def _resolve(conditions: list, resolved_by_id: int | None, now: datetime) -> tuple[list[int], list[int]]:
    """One guarded UPDATE (`state = 'firing'` in its WHERE): of two resolutions at once, each
    alert goes to exactly one, and only that one writes its `alert.resolved` deliveries."""
    rows = db.session.execute(
        sa.update(Alert).where(*conditions, Alert.state == "firing")
        .values(state="resolved", resolved_at=now, resolved_by_id=resolved_by_id, next_repeat_at=None)
        .returning(Alert.id, Alert.workspace_id, Alert.rule_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return [], []
    delivery_ids = notify(rows, "alert.resolved")
    return [row.id for row in rows], delivery_ids


def notify(alerts: list, event: str) -> list[int]:
    """Pending deliveries of payload type `event` for these alerts ((id, workspace_id, rule_id)
    rows), due now, flushed; returns their ids. `alert.resolved` only for rules with
    `notify_on_resolve`; an alert whose rule was deleted is not notified."""
    now = utcnow()  # the real moment they are written, even for a sweep told another time
    rules = {rule.id: rule for rule in db.session.scalars(
        sa.select(Rule).where(Rule.id.in_({alert.rule_id for alert in alerts if alert.rule_id})))}
    sent_to = _live_endpoints_reached([alert.id for alert in alerts])
    held = holding.held_endpoints([alert.id for alert in alerts])  # a silence still holds these: say nothing
    about = _system_endpoints([alert.id for alert in alerts])  # a system alert never goes to its endpoint
    targets = []
    for alert in alerts:
        rule = rules.get(alert.rule_id)
        if rule is None or (event == "alert.resolved" and not rule.notify_on_resolve):
            continue
        endpoint_ids = sent_to.get(alert.id) or [
            endpoint.id for endpoint in rule.endpoints
            if endpoint.is_active and endpoint.deleted_at is None and endpoint.workspace_id == alert.workspace_id]
        targets += [(alert, rule, endpoint_id) for endpoint_id in endpoint_ids
                    if endpoint_id not in held.get(alert.id, ()) and endpoint_id != about.get(alert.id)]
    budgets = _endpoint_budgets({endpoint_id for _, _, endpoint_id in targets})
    deliveries = [Delivery(workspace_id=alert.workspace_id, alert_id=alert.id, endpoint_id=endpoint_id,
                           rule_id=rule.id, event=event, status="pending", next_attempt_at=now, created_at=now,
                           max_attempts=retry_policy.attempt_budget(rule.max_attempts, budgets.get(endpoint_id)))
                  for alert, rule, endpoint_id in targets]
    if not deliveries:
        return []
    db.session.add_all(deliveries)
    db.session.flush()
    return [delivery.id for delivery in deliveries]


def _system_endpoints(alert_ids: list[int]) -> dict[int, int]:
    """alert id → the endpoint a system alert is about (only alerts that have one)."""
    return dict(db.session.execute(sa.select(Alert.id, Alert.system_endpoint_id).where(
        Alert.id.in_(alert_ids), Alert.system_endpoint_id.is_not(None))).all())


def _endpoint_budgets(endpoint_ids: set[int]) -> dict[int, int]:
    """endpoint id → its attempt budget, in one query."""
    if not endpoint_ids:
        return {}
    return dict(db.session.execute(sa.select(Endpoint.id, Endpoint.max_attempts)
                                   .where(Endpoint.id.in_(endpoint_ids))).all())


def _live_endpoints_reached(alert_ids: list[int]) -> dict[int, list[int]]:
    """alert id → the live endpoints (of the alert's workspace) its deliveries went to, in one query."""
    rows = db.session.execute(
        sa.select(Delivery.alert_id, Delivery.endpoint_id).distinct()
        .join(Endpoint, sa.and_(Endpoint.id == Delivery.endpoint_id, Endpoint.workspace_id == Delivery.workspace_id))
        .where(Delivery.alert_id.in_(alert_ids), Delivery.is_test.is_(False), Endpoint.is_active.is_(True),
               Endpoint.deleted_at.is_(None))
        .order_by(Delivery.alert_id, Delivery.endpoint_id))
    reached: dict[int, list[int]] = defaultdict(list)
    for alert_id, endpoint_id in rows:
        reached[alert_id].append(endpoint_id)
    return reached


def first_repeat_at(rule: Rule | None, now: datetime) -> datetime | None:
    """When a firing alert of `rule` (raised or unacknowledged at `now`) repeats first; the
    scheduler is woken for it once the caller commits (`wake_after_commit`)."""
    if rule is None or not rule.repeat_interval_seconds:
        return None
    moment = now + timedelta(seconds=rule.repeat_interval_seconds)
    wake_after_commit(moment)
    return moment


def sweep_repeats(app: Flask, *, now: datetime | None = None) -> int:
    """Queue `alert.repeated` for firing, unacknowledged alerts whose `next_repeat_at` has come;
    returns how many repeats were queued. Safe in any number of processes: each due moment is
    taken by one guarded UPDATE (`WHERE id = ? AND next_repeat_at = <the value read>`), so it
    goes to exactly one sweeper, which writes its deliveries in the same transaction.
    Acknowledging or resolving clears `next_repeat_at`, so the guard also drops a repeat that
    an acknowledgement overtook."""
    repeated = 0
    while True:
        moment = now or utcnow()
        with serialised_writes():
            due = db.session.execute(_DUE_REPEATS, {"now": moment}).all()
            end_read()  # the batch's transaction starts with its first write (SQLite: no lock upgrade)
            if not due:
                return repeated
            won, delivery_ids, next_moments = _repeat_batch(due, moment)
            db.session.commit()
        repeated += won
        pool.send_after_commit(app, delivery_ids)
        if next_moments:
            wakeups.wake_at(min(next_moments))
        if len(due) < REPEAT_BATCH:
            return repeated


# Due repeats with the interval to apply (null when the alert should not repeat any more: it
# resolved, was acknowledged, or its rule stopped repeating or is gone). The literal IS NOT NULL
# lets SQLite read the partial index ix_alert_next_repeat_at: the cost follows what is due.
_DUE_REPEATS = (
    sa.select(Alert.id, Alert.next_repeat_at,
              sa.case((sa.and_(Alert.state == "firing", Alert.acknowledged_at.is_(None)),
                       Rule.repeat_interval_seconds), else_=None))
    .outerjoin(Rule, Rule.id == Alert.rule_id)
    .where(Alert.next_repeat_at.is_not(None), Alert.next_repeat_at <= sa.bindparam("now", type_=UTCDateTime))
    .order_by(Alert.next_repeat_at).limit(REPEAT_BATCH))


def _repeat_batch(due: list, now: datetime) -> tuple[int, list[int], list[datetime]]:
    """Take each due repeat with its guarded UPDATE and queue the ones this sweeper won."""
    won, next_moments = [], []
    for alert_id, read_moment, interval in due:
        following = None
        if interval:
            following = read_moment + timedelta(seconds=interval)
            if following <= now:  # the sweeper was away: repeat now, then an interval from now
                following = now + timedelta(seconds=interval)
        taken = db.session.execute(
            sa.update(Alert).where(Alert.id == alert_id, Alert.next_repeat_at == read_moment)
            .values(next_repeat_at=following)
            .returning(Alert.id, Alert.workspace_id, Alert.rule_id)
            .execution_options(synchronize_session=False)).first()
        if taken is not None and interval:
            won.append(taken)
            next_moments.append(following)
    return len(won), notify(won, "alert.repeated") if won else [], next_moments


def wake_after_commit(moment: datetime | None) -> None:
    """Wake the scheduler at `moment` once the current transaction commits (never before:
    a scheduler woken early would read the old rows and sleep past the new moment)."""
    if moment is not None:
        db.session.info.setdefault(_WAKE_KEY, []).append(moment)


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _wake_for_committed(session) -> None:
    moments = session.info.pop(_WAKE_KEY, None)
    if moments:
        wakeups.wake_at(min(moments))


@sa.event.listens_for(sa.orm.Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_WAKE_KEY, None)
