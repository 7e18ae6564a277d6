"""Silenced alerts: held back when raised, delivered once when their silence ends.

The design, in short: an alert raised while a matching silence is active is written as usual,
with `silenced_by` naming that silence, but the deliveries the silence covers are not written
at all; one `SilenceHold` row per held endpoint stands in for each. Nothing is sent, retried
or counted as pending meanwhile, and no other part of the delivery engine needs to know.
A silence with an `endpoint_id` holds only that endpoint's delivery; the others go out.

`release_ended`, a scheduler job, takes each hold whose silence is no longer in force with one
guarded UPDATE (`WHERE id = ? AND released_at IS NULL`), so among any number of processes
exactly one releases it, and writes its pending `alert.fired` delivery in that same
transaction. An alert that resolved meanwhile is dropped (nothing is sent, not even its
`alert.resolved`: `lifecycle.notify` skips endpoints still held). A hold whose silence ended
while another matching silence is active moves to that one and waits on.
"""
import fnmatch
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from webapp.database import end_read, serialised_writes
from webapp.extensions import db
from webapp.models import Alert, Delivery, Endpoint, Job, Rule, Silence, SilenceHold
from webapp.services.delivery import pool, retry_policy
from webapp.services.silences.windows import is_active
from webapp.timeutil import utcnow

RELEASE_BATCH = 200


@dataclass
class Decision:
    """What the active silences do to one new alert: `silenced_by` (a silence id, or None) and
    the endpoints whose deliveries they hold (endpoint id → silence id)."""
    silenced_by: int | None = None
    held: dict[int, int] = field(default_factory=dict)


def matches(silence, slug: str | None, rule_id: int | None, endpoint_id: int | None = None) -> bool:
    """Every condition the silence has matches; `endpoint_id` None asks about the alert as a
    whole, which only a silence without an endpoint condition covers."""
    if silence.job_filter is not None and (slug is None or not fnmatch.fnmatchcase(slug, silence.job_filter)):
        return False
    if silence.rule_id is not None and silence.rule_id != rule_id:
        return False
    return silence.endpoint_id is None or silence.endpoint_id == endpoint_id


_CANDIDATES = (sa.select(Silence)
               .where(Silence.workspace_id == sa.bindparam("workspace_id"),
                      Silence.starts_at <= sa.bindparam("now"),
                      sa.or_(Silence.ends_at.is_(None), Silence.ends_at > sa.bindparam("now")))
               .order_by(Silence.id))


def active_silences(workspace_id: int, now: datetime) -> list[Silence]:
    """The workspace's silences in force at `now`, oldest first."""
    candidates = db.session.scalars(_CANDIDATES, {"workspace_id": workspace_id, "now": now}).all()
    return [silence for silence in candidates if is_active(silence, now)]


def check(workspace_id: int, slug: str | None, rule_id: int | None, endpoint_ids, now: datetime) -> Decision:
    """Which of a new alert's deliveries the workspace's active silences hold (one query)."""
    silences = active_silences(workspace_id, now)
    if not silences:
        return Decision()
    decision = Decision()
    for endpoint_id in endpoint_ids:
        holder = next((silence for silence in silences if matches(silence, slug, rule_id, endpoint_id)), None)
        if holder is not None:
            decision.held[endpoint_id] = holder.id
    whole = next((silence for silence in silences if matches(silence, slug, rule_id)), None)
    decision.silenced_by = whole.id if whole else min(decision.held.values(), default=None)
    return decision


def hold(workspace_id: int, alert_id: int, decision: Decision, now: datetime) -> None:
    """Write the holds of a just-inserted alert, in the caller's transaction."""
    if decision.held:
        db.session.execute(sa.insert(SilenceHold), [
            {"workspace_id": workspace_id, "alert_id": alert_id, "endpoint_id": endpoint_id,
             "silence_id": silence_id, "created_at": now} for endpoint_id, silence_id in decision.held.items()])


def held_endpoints(alert_ids) -> dict[int, set[int]]:
    """alert id → the endpoints a silence still holds its deliveries for (one query)."""
    held: dict[int, set[int]] = {}
    if alert_ids:
        for alert_id, endpoint_id in db.session.execute(
                sa.select(SilenceHold.alert_id, SilenceHold.endpoint_id)
                .where(SilenceHold.alert_id.in_(list(alert_ids)), SilenceHold.released_at.is_(None))):
            held.setdefault(alert_id, set()).add(endpoint_id)
    return held


def silenced_alert_count(workspace_id: int) -> int:
    """Firing alerts a silence holds back now (the overview's "silenced" card)."""
    return db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Alert.id)))
        .join(SilenceHold, SilenceHold.alert_id == Alert.id)
        .where(Alert.workspace_id == workspace_id, Alert.state == "firing", SilenceHold.released_at.is_(None))) or 0


# --- the release job -------------------------------------------------------------------------

_UNRELEASED = (
    sa.select(SilenceHold.id, SilenceHold.workspace_id, SilenceHold.alert_id, SilenceHold.endpoint_id,
              SilenceHold.silence_id, Alert.state, Alert.rule_id, Job.slug, Rule.max_attempts,
              Endpoint.max_attempts, sa.and_(Endpoint.is_active.is_(True), Endpoint.deleted_at.is_(None)))
    .join(Alert, Alert.id == SilenceHold.alert_id)
    .join(Endpoint, Endpoint.id == SilenceHold.endpoint_id)
    .outerjoin(Job, Job.id == Alert.job_id)
    .outerjoin(Rule, Rule.id == Alert.rule_id)
    .where(SilenceHold.released_at.is_(None), SilenceHold.id > sa.bindparam("after"))
    .order_by(SilenceHold.id).limit(RELEASE_BATCH))


@dataclass(frozen=True)
class _Step:
    hold_id: int
    action: str  # "delivered", "dropped" or "move"
    values: dict = field(default_factory=dict)


def _plan(rows, moment: datetime) -> list[_Step]:
    """Decide each hold from values read before the batch's first write (no ORM rows after it)."""
    silence_ids = {row.silence_id for row in rows if row.silence_id is not None}
    silences = {silence.id: silence for silence in db.session.scalars(
        sa.select(Silence).where(Silence.id.in_(silence_ids)))} if silence_ids else {}
    in_force: dict[int, list[Silence]] = {}
    steps = []
    for (hold_id, workspace_id, alert_id, endpoint_id, silence_id, state, rule_id, slug, rule_budget,
         endpoint_budget, endpoint_live) in rows:
        if state != "firing":
            steps.append(_Step(hold_id, "dropped"))
            continue
        silence = silences.get(silence_id)
        if silence is not None and is_active(silence, moment):
            continue
        if workspace_id not in in_force:
            in_force[workspace_id] = active_silences(workspace_id, moment)
        other = next((each for each in in_force[workspace_id] if matches(each, slug, rule_id, endpoint_id)), None)
        if other is not None:
            steps.append(_Step(hold_id, "move", {"silence_id": other.id}))
        elif not endpoint_live:
            steps.append(_Step(hold_id, "dropped"))
        else:
            steps.append(_Step(hold_id, "delivered", {
                "workspace_id": workspace_id, "alert_id": alert_id, "endpoint_id": endpoint_id, "rule_id": rule_id,
                "max_attempts": retry_policy.attempt_budget(rule_budget, endpoint_budget)}))
    return steps


def _take(hold_id: int, moment: datetime, outcome: str) -> bool:
    """The guarded UPDATE: True for the one process that releases this hold."""
    still_firing = sa.exists().where(Alert.id == SilenceHold.alert_id, Alert.state == "firing")
    conditions = [SilenceHold.id == hold_id, SilenceHold.released_at.is_(None)]
    if outcome == "delivered":
        conditions.append(still_firing)
    return db.session.execute(
        sa.update(SilenceHold).where(*conditions).values(released_at=moment, outcome=outcome)
        .returning(SilenceHold.id).execution_options(synchronize_session=False)).first() is not None


def _apply(steps: list[_Step], moment: datetime) -> list[int]:
    delivery_ids = []
    for step in steps:
        if step.action == "move":
            db.session.execute(sa.update(SilenceHold)
                               .where(SilenceHold.id == step.hold_id, SilenceHold.released_at.is_(None))
                               .values(silence_id=step.values["silence_id"])
                               .execution_options(synchronize_session=False))
        elif _take(step.hold_id, moment, step.action) and step.action == "delivered":
            now = utcnow()  # the real moment it is written, even for a job told another time
            delivery = Delivery(**step.values, event="alert.fired", status="pending", next_attempt_at=now,
                                created_at=now, updated_at=now)
            db.session.add(delivery)
            db.session.flush()
            db.session.execute(sa.update(SilenceHold).where(SilenceHold.id == step.hold_id)
                               .values(delivery_id=delivery.id).execution_options(synchronize_session=False))
            delivery_ids.append(delivery.id)
    return delivery_ids


def release_ended(app: Flask, *, now: datetime | None = None) -> int:
    """Deliver, once, the held deliveries of firing alerts whose silence is no longer in force,
    and drop those of alerts that resolved; returns how many deliveries it wrote. Safe in any
    number of processes at once (see the module's docstring)."""
    delivered, after = 0, 0
    while True:
        moment = now or utcnow()
        with serialised_writes():
            rows = db.session.execute(_UNRELEASED, {"after": after}).all()
            steps = _plan(rows, moment) if rows else []
            end_read()  # the batch's transaction starts with its first write (SQLite: no lock upgrade)
            if not rows:
                return delivered
            delivery_ids = _apply(steps, moment)
            db.session.commit()
        delivered += len(delivery_ids)
        pool.send_after_commit(app, delivery_ids)
        after = rows[-1][0]
        if len(rows) < RELEASE_BATCH:
            return delivered
