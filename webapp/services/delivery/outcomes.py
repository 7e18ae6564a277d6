"""Writing attempt outcomes with group commit: one short write transaction for several attempts,
each with its endpoint's health (the failure streak, and disabling an endpoint that is gone).

Each send thread hands its outcome (the delivery's new state, the attempt row, the endpoint's
health) to `write` and waits. The first thread to arrive becomes the leader: it writes every
outcome queued so far in one transaction — each delivery UPDATE still conditional on the
lease being ours — commits once, and hands leadership on. On SQLite that means one trip
through the write lock per batch instead of per attempt (no convoy of threads waiting for the
lock and the GIL); on PostgreSQL one WAL flush per batch. A batch that fails is written again
one outcome at a time, so one bad row never costs the others their outcome.

While the database is unreachable (a restart, a failover, SQLite busy past its timeout) a batch
is written again every OUTAGE_RETRY_SECONDS, for up to OUTAGE_WAIT_SECONDS: the request was
sent, so an outcome given up would leave the row `sending` until its lease expired, and the
receiver would get it a second time.
"""
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp import wakeups
from webapp.database import is_postgresql, serialised_writes
from webapp.database_errors import describe, is_database_unavailable
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Endpoint
from webapp.services import audit, metrics
from webapp.services.delivery import claims
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 64
OUTAGE_RETRY_SECONDS = 0.5
OUTAGE_WAIT_SECONDS = 60.0  # within gunicorn's graceful_timeout a stopping worker is killed anyway


@dataclass(eq=False)
class Outcome:
    """One attempted (or refused) delivery's outcome, as plain values."""

    delivery_id: int
    endpoint_id: int
    is_test: bool
    lease_until: datetime
    values: dict  # the delivery's new columns
    attempt_row: dict | None = None  # the DeliveryAttempt row, when a request was attempted
    succeeded: bool | None = None  # None: nothing attempted (no health change)
    known_failing_since: datetime | None = None
    disable_reason: str | None = None
    status: str | None = None  # set when written: the new status, or None when the lease was lost
    finished: bool = False
    error: BaseException | None = field(default=None, repr=False)


_changed = threading.Condition()
_state: dict = {"pending": [], "leading": False}


def _reset_after_fork() -> None:
    global _changed
    _changed = threading.Condition()
    _state.update(pending=[], leading=False)


os.register_at_fork(after_in_child=_reset_after_fork)


def write(outcome: Outcome) -> str | None:
    """Write `outcome` (in a batch with others) and commit; the new status, or None when the
    lease was no longer ours (nothing written). Call inside an app context."""
    with _changed:
        _state["pending"].append(outcome)
        _changed.wait_for(lambda: outcome.finished or not _state["leading"])
        leader = not outcome.finished
        if leader:
            _state["leading"] = True
    if not leader:
        return _result(outcome)
    try:
        # Only the leader takes from `pending`, so its own outcome is there until it takes it.
        while not outcome.finished:
            with _changed:
                batch = _state["pending"][:MAX_BATCH]
                del _state["pending"][:MAX_BATCH]
            _write_batch(batch)
            with _changed:
                _changed.notify_all()
    finally:
        with _changed:
            _state["leading"] = False  # only the leader may: a follower clearing it made a second leader
            _changed.notify_all()
    return _result(outcome)


def _result(outcome: Outcome) -> str | None:
    if outcome.error is not None:
        raise outcome.error
    return outcome.status


# Core statements built once per set of columns (a handful: pending, delivered, dead, nothing
# attempted), every value a bound parameter, so no statement or cache key is built per outcome.
_DELIVERY = Delivery.__table__
_INSERT_ATTEMPTS = DeliveryAttempt.__table__.insert()
_updates: dict[tuple[str, ...], sa.Update] = {}


def _update_for(columns: tuple[str, ...]) -> sa.Update:
    statement = _updates.get(columns)
    if statement is None:
        statement = (sa.update(_DELIVERY)
                     .where(_DELIVERY.c.id == sa.bindparam("w_id"), _DELIVERY.c.status == "sending",
                            _DELIVERY.c.lease_until == sa.bindparam("w_lease", type_=_DELIVERY.c.lease_until.type))
                     .values({name: sa.bindparam(f"v_{name}", type_=_DELIVERY.c[name].type) for name in columns}))
        _updates[columns] = statement
    return statement


def _write_batch(batch: list[Outcome]) -> None:
    try:
        _write_through_outage(batch)
    except Exception as error:
        if len(batch) == 1:
            batch[0].error = error
        else:
            log.exception("writing %d outcomes together failed; writing them one by one", len(batch))
            for outcome in batch:
                try:
                    _write_together([outcome])
                except Exception as error:
                    outcome.error = error
    finally:
        for outcome in batch:
            outcome.finished = True
    for outcome in batch:
        if outcome.status in ("delivered", "dead") and not outcome.is_test:  # a test send is never dead
            metrics.record_final_status(outcome.status)


def _write_through_outage(batch: list[Outcome]) -> None:
    """`_write_together`, again and again while the database is unreachable (see the module's
    docstring). Each try is the same conditional writes, so a late one can never undo a newer
    state: if another process took a row over meanwhile, its outcome is simply not recorded."""
    give_up_at = time.monotonic() + OUTAGE_WAIT_SECONDS
    waited = False
    while True:
        try:
            _write_together(batch)
        except Exception as error:
            if not is_database_unavailable(error) or time.monotonic() >= give_up_at:
                raise
            if not waited:
                log.warning("database unavailable while recording %d delivery outcomes (%s); "
                            "trying again every %g s", len(batch), describe(error), OUTAGE_RETRY_SECONDS)
                waited = True
            time.sleep(OUTAGE_RETRY_SECONDS)
            continue
        if waited:
            log.info("recorded %d delivery outcomes after the database came back", len(batch))
        return


def _write_together(batch: list[Outcome]) -> None:
    """One transaction: each delivery's conditional UPDATE, the winners' attempt rows and health."""
    now = utcnow()
    written: list[Outcome] = []
    due_now = 0  # deliveries an endpoint's recovery made due at once
    with serialised_writes():
        try:
            if is_postgresql(db.engine):
                claims.limit_stranded_transaction(db.session.connection())
            for outcome in batch:
                columns = tuple(sorted(outcome.values))
                parameters = {f"v_{name}": outcome.values[name] for name in columns}
                parameters.update(w_id=outcome.delivery_id, w_lease=outcome.lease_until)
                if db.session.execute(_update_for(columns), parameters).rowcount:
                    written.append(outcome)
                else:
                    log.warning("delivery %s: lease lost while attempting; outcome not recorded",
                                outcome.delivery_id)
            rows = [outcome.attempt_row for outcome in written if outcome.attempt_row is not None]
            if rows:
                db.session.execute(_INSERT_ATTEMPTS, rows)
            for outcome in written:
                if outcome.disable_reason:
                    disable_endpoint(outcome.endpoint_id, outcome.disable_reason, now, delivery_id=outcome.delivery_id)
                elif outcome.succeeded is not None:  # a test send counts like any attempt
                    due_now += record_health(outcome.endpoint_id, outcome.succeeded, now,
                                             known_failing_since=outcome.known_failing_since,
                                             delivery_id=outcome.delivery_id)
                if outcome.values["status"] == "dead" and not outcome.is_test:
                    dead_lettered(outcome)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    if due_now:
        wakeups.wake_at(now)
    for outcome in batch:
        outcome.status = outcome.values["status"] if outcome in written else None


# --- endpoint health ---------------------------------------------------------------------------
# Endpoint health as the delivery engine sees it: when a failure streak began, and when to give up.
# `failing_since` marks the first failure of the current unbroken streak and is cleared by the
# next success. After TOCSIN_DISABLE_AFTER_HOURS of nothing but failures, or at once on a
# 404/410, the endpoint is disabled with a reason its page shows; the user can re-enable it.
# Every write is a conditional UPDATE, so concurrent attempts never undo each other.

_UNKNOWN = object()
OUTAGE_STREAK_SECONDS = 10  # the default schedule's first delay; × TOCSIN_RETRY_SCALE


def record_health(endpoint_id: int, succeeded: bool, now: datetime, *, known_failing_since=_UNKNOWN,
                  delivery_id: int | None = None) -> int:
    """Start or end the failure streak; disable the endpoint when the streak is too long. Returns
    how many waiting deliveries the end of a streak made due now (`retry_waiting_now`).

    `known_failing_since`, the endpoint's value as read before the attempt, saves the writes
    that would change nothing (a success with no streak, a failure inside one)."""
    if succeeded:
        if known_failing_since is not None and _update_endpoint(endpoint_id, Endpoint.failing_since.is_not(None),
                                                                failing_since=None):
            if known_failing_since is not _UNKNOWN and now - known_failing_since >= _outage_streak():
                return retry_waiting_now(endpoint_id, now)
        return 0
    failing_since = known_failing_since
    if failing_since is _UNKNOWN or failing_since is None:
        _update_endpoint(endpoint_id, Endpoint.failing_since.is_(None), failing_since=now)
        failing_since = db.session.scalar(sa.select(Endpoint.failing_since).where(Endpoint.id == endpoint_id))
    hours = float(current_app.config.get("TOCSIN_DISABLE_AFTER_HOURS", 72.0))
    if failing_since is not None and now - failing_since >= timedelta(hours=hours):
        disable_endpoint(endpoint_id, f"disabled after {hours:g} hours of failed deliveries "
                                      f"(failing since {failing_since:%Y-%m-%d %H:%M} UTC)", now,
                         delivery_id=delivery_id)
    return 0


def _outage_streak() -> timedelta:
    """A failure streak this long was an outage, not a flaky answer among successes (whose
    retries keep their back-off: a delivery the receiver always fails must not use up its
    attempts in seconds, pulled forward by every success of the others)."""
    return timedelta(seconds=OUTAGE_STREAK_SECONDS * float(current_app.config.get("TOCSIN_RETRY_SCALE", 1.0)))


def retry_waiting_now(endpoint_id: int, now: datetime) -> int:
    """The endpoint answers again after an outage (a failure streak of OUTAGE_STREAK_SECONDS or
    more): its deliveries waiting out a back-off are due now, not up to hours later (after a
    5-minute outage the default schedule left its first alerts waiting 7.7 minutes more). The
    claims pace them by the endpoint's concurrency and rate limits, so they never arrive as one
    herd. A delay the receiver asked for (429 Retry-After) is kept."""
    return db.session.execute(
        sa.update(Delivery)
        .where(Delivery.endpoint_id == endpoint_id, Delivery.status == "pending", Delivery.next_attempt_at > now,
               Delivery.attempt_count > 0, sa.func.coalesce(Delivery.last_http_status, 0) != 429)
        .values(next_attempt_at=now).execution_options(synchronize_session=False)
    ).rowcount


def disable_endpoint(endpoint_id: int, reason: str, now: datetime, *, delivery_id: int | None = None) -> bool:
    """Disable an active endpoint with `reason` (audited, logged, and raised as the system event
    `endpoint_disabled`) while attempting `delivery_id`; False when it was already disabled."""
    from webapp.services.alerting import system_events  # alerting imports the engine's pool

    disabled = _update_endpoint(endpoint_id, Endpoint.is_active.is_(True), Endpoint.deleted_at.is_(None),
                                is_active=False, disabled_reason=reason[:500], disabled_at=now)
    if disabled:
        workspace_id, name = db.session.execute(sa.select(Endpoint.workspace_id, Endpoint.name)
                                                .where(Endpoint.id == endpoint_id)).one()
        audit.record(workspace_id=workspace_id, user_id=None, action="endpoint.auto_disable",
                     object_type="endpoint", object_id=endpoint_id, summary=reason)
        log.warning("endpoint %s %r (workspace %s) disabled automatically while attempting delivery %s: %s",
                    endpoint_id, name, workspace_id, delivery_id, system_events.without_urls(reason))
        system_events.endpoint_disabled(endpoint_id, reason, delivery_id=delivery_id)
    return disabled


def dead_lettered(outcome: Outcome) -> None:
    """A delivery (not a test send) is dead: one WARNING line with its ids and why (no URL), and
    the system event `delivery_dead`."""
    from webapp.services.alerting import system_events

    reason = system_events.without_urls(outcome.values.get("last_error")) or "dead"
    attempts = outcome.values.get("attempt_count")
    log.warning("delivery %s to endpoint %s is dead after %s: %s", outcome.delivery_id, outcome.endpoint_id,
                "no attempt" if attempts is None else f"{attempts} attempt{'' if attempts == 1 else 's'}", reason)
    system_events.delivery_dead(outcome.delivery_id, outcome.values.get("last_error"))


def _update_endpoint(endpoint_id: int, *conditions, **values) -> bool:
    return bool(db.session.execute(
        sa.update(Endpoint).where(Endpoint.id == endpoint_id, *conditions).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount)
