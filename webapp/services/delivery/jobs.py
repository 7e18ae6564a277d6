"""The delivery engine's scheduler jobs (wired in webapp/scheduler.py): retries, pruning and the
scheduler heartbeat. Each is safe in any number of processes: rows are taken with atomic claims
and leases, never with an in-memory lock."""
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from webapp.database import serialised_writes
from webapp.database_errors import log_failure
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, SchedulerHeartbeat
from webapp.services.alerting import system_events
from webapp.services.delivery import claims, due, history_limit, pool
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

CLAIM_BATCH = 64
# One pass of the wake-up loop claims for at most this long, so deadlines never wait behind a backlog.
PASS_SECONDS = 0.5
LIMITED_POLL_SECONDS = 0.2  # due rows waiting for an endpoint's concurrency or rate limit
PRUNE_BATCH = 1000


@dataclass
class RetryPass:
    """What one pass of claiming found: how many it claimed; `held_at`, the moment it found due
    rows that no claim could take (their endpoints at their limits); `busy`, that it stopped
    with claimable work left (its budget ran out), so the caller should go again at once."""

    claimed: int = 0
    held_at: datetime | None = None
    busy: bool = False


def retry_pass(app: Flask, budget: float = PASS_SECONDS) -> RetryPass:
    """Claim due deliveries (retries, expired leases) and attempt them on the send pool, until
    nothing claimable is left or `budget` seconds have passed. Never sleeps for a held-back
    row: the wake-up loop (webapp/wakeups.py) sleeps until its endpoint frees a slot.

    Claims in batches of up to CLAIM_BATCH into the pool's short local queue, refilled when it
    runs below half (one claim then pays for many attempts). A queued claim's lease still
    covers the wait: the queue drains in well under a second at full speed, and an attempt
    whose lease no longer covers a whole attempt gives the row back instead of sending.
    """
    result = RetryPass()
    stop_at = time.monotonic() + budget
    while not pool.is_stopping():
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            result.busy = True
            break
        capacity = pool.free_capacity(app, wait_seconds=min(1.0, remaining), queued=CLAIM_BATCH)
        if capacity == 0:
            continue
        claimed_now = claims.claim_due(min(capacity, CLAIM_BATCH))
        if claimed_now:
            pool.submit_claimed(app, claimed_now)
            result.claimed += len(claimed_now)
            continue
        checked_at = utcnow()
        if claims.has_due(checked_at):
            result.held_at = checked_at
        break
    return result


def retry_due_deliveries(app: Flask) -> int:
    """Claim and attempt due deliveries for about one TOCSIN_RETRY_INTERVAL, waiting out the
    endpoints' limits by polling (tests and one-off drains; the scheduler's wake-up loop calls
    `retry_pass` and sleeps precisely instead). Returns how many deliveries it claimed."""
    claimed = 0
    budget = max(0.5, 0.9 * float(app.config.get("TOCSIN_RETRY_INTERVAL", 2.0)))
    stop_at = time.monotonic() + budget
    while not pool.is_stopping() and (remaining := stop_at - time.monotonic()) > 0:
        result = retry_pass(app, remaining)
        claimed += result.claimed
        if result.held_at is not None:
            time.sleep(LIMITED_POLL_SECONDS)
        elif not result.busy:
            break
    return claimed


def prune_history(app: Flask) -> int:
    """Delete attempts and finished deliveries older than TOCSIN_HISTORY_DAYS, and those beyond
    their endpoint's history limit (history_limit.py), in small batches."""
    cutoff = utcnow() - timedelta(days=float(app.config.get("TOCSIN_HISTORY_DAYS", 30)))
    removed = _delete_in_batches(DeliveryAttempt, DeliveryAttempt.started_at < cutoff)
    removed += _delete_in_batches(Delivery, Delivery.status.in_(("delivered", "dead")),
                                  Delivery.finished_at < cutoff)
    removed += history_limit.prune_beyond_limits()
    prune_stale_heartbeats()
    if removed:
        log.info("pruned %d delivery history rows older than %s", removed, cutoff)
    return removed


def _delete_in_batches(model, *conditions) -> int:
    """Short transactions: one batch per commit, so writers elsewhere never wait long."""
    removed = 0
    while True:
        batch = sa.select(model.id).where(*conditions).limit(PRUNE_BATCH)
        count = db.session.execute(
            sa.delete(model).where(model.id.in_(batch)).execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        removed += count
        if count < PRUNE_BATCH:
            return removed


# --- scheduler heartbeats: each scheduler process records that it is alive ------------------

HEARTBEAT_STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_FORGET_AFTER = timedelta(days=1)  # rows of processes that stopped long ago


def beat(heartbeat_id: int | None) -> int:
    """Insert this process's row on the first beat, update it afterwards; returns the row id."""
    now = utcnow()
    if heartbeat_id is not None:
        updated = db.session.execute(
            sa.update(SchedulerHeartbeat).where(SchedulerHeartbeat.id == heartbeat_id).values(last_beat_at=now)
        ).rowcount
        if updated:
            db.session.commit()
            return heartbeat_id
    row = SchedulerHeartbeat(host=socket.gethostname()[:255], pid=os.getpid(), started_at=now, last_beat_at=now)
    db.session.add(row)
    db.session.commit()
    return row.id


def latest_beat():
    return db.session.scalar(
        sa.select(SchedulerHeartbeat.last_beat_at).order_by(SchedulerHeartbeat.last_beat_at.desc()).limit(1)
    )


def scheduler_age_seconds() -> float | None:
    """Seconds since any scheduler last beat, or None when none ever ran."""
    latest = latest_beat()
    if latest is None:
        return None
    return (utcnow() - latest).total_seconds()


def scheduler_banner_needed() -> bool:
    age = scheduler_age_seconds()
    return age is None or age > HEARTBEAT_STALE_AFTER.total_seconds()


def prune_stale_heartbeats(older_than: timedelta = HEARTBEAT_FORGET_AFTER) -> int:
    """Forget processes that have not beaten for a day (each restart adds a row)."""
    removed = db.session.execute(
        sa.delete(SchedulerHeartbeat).where(SchedulerHeartbeat.last_beat_at < utcnow() - older_than)
    ).rowcount
    db.session.commit()
    return removed


def record_heartbeat(app: Flask) -> None:
    """The heartbeat job: this process's row, kept per app, says its scheduler is alive; then
    the stall check (a scheduler that beats again resolves a `scheduler_stalled` alert)."""
    app.extensions["tocsin_heartbeat_id"] = beat(app.extensions.get("tocsin_heartbeat_id"))
    check_heartbeat()


# --- scheduler_stalled: raised by whichever process notices first, resolved when a beat returns --

STALL_CHECK_SECONDS = 10.0  # a web process checks at most this often (TOCSIN_STALL_CHECK_SECONDS)
_LATEST_BEAT = sa.select(sa.func.max(SchedulerHeartbeat.last_beat_at))


def check_heartbeat(now: datetime | None = None) -> str | None:
    """Raise `scheduler_stalled` when no scheduler beat for HEARTBEAT_STALE_AFTER (or none ever
    ran) and resolve it when one beats again; returns "raised", "resolved" or None (nothing to do).
    Safe in any number of processes: a stall alert is one per rule (a conflicting INSERT does
    nothing) and a resolution is one guarded UPDATE. Reads on a connection of its own, so a
    caller's session is left as it was unless there is something to write."""
    now = now or utcnow()
    with db.engine.connect() as connection:
        latest = connection.scalar(_LATEST_BEAT)
        to_raise, to_resolve = connection.execute(system_events.STALL_CHECK).one()
    stalled = latest is None or now - latest > HEARTBEAT_STALE_AFTER
    if stalled and to_raise:
        with serialised_writes():
            raised = system_events.scheduler_stalled(system_events.stall_detail(latest, now))
            db.session.commit()
        if raised:
            log.warning("no scheduler heartbeat since %s: raised %d scheduler_stalled alerts",
                        latest.isoformat() if latest else "ever", raised)
        return "raised"
    if not stalled and to_resolve:
        with serialised_writes():
            resolved = system_events.scheduler_returned()
            db.session.commit()
        if resolved:
            log.info("a scheduler heartbeat is back: resolved %d scheduler_stalled alerts", resolved)
        return "resolved"
    return None


def watch_heartbeat(app: Flask) -> None:
    """The web side of the stall check (a stalled scheduler cannot notice itself): at most once
    every TOCSIN_STALL_CHECK_SECONDS per process, never waiting for another thread's check."""
    interval = float(app.config.get("TOCSIN_STALL_CHECK_SECONDS", STALL_CHECK_SECONDS))
    state = app.extensions.setdefault("tocsin_stall_check", {"next": 0.0, "lock": threading.Lock()})
    if interval <= 0 or time.monotonic() < state["next"] or not state["lock"].acquire(blocking=False):
        return
    try:
        state["next"] = time.monotonic() + interval
        check_heartbeat()
    except Exception as error:  # the request itself goes on (and meets the same database)
        log_failure(log, error, f"the scheduler stall check failed; trying again in {interval:g} s")
        db.session.rollback()
    finally:
        state["lock"].release()


class RetrySource:
    """Deliveries as a source of the wake-up loop (webapp/wakeups.py): `run` is one claiming
    pass; `next_moment` the earliest moment a delivery may be claimed, which after a pass that
    found rows held back by their endpoints' limits is when one of those endpoints frees a slot."""

    name = "retry_due_deliveries"

    def __init__(self, longest_sleep: float | None = None):
        self.last = RetryPass()
        # While deliveries are queued the loop looks at least this often: rows held back by an
        # attempt in flight in a process without a loop, or written without a wake-up.
        self.longest_sleep = longest_sleep
        self.in_pass = False
        self.slot_freed = False  # an attempt of this process ended since the pass began

    def run(self, app: Flask) -> int:
        self.slot_freed, self.in_pass = False, True
        try:
            self.last = retry_pass(app)
        finally:
            self.in_pass = False
        return self.last.claimed

    def next_moment(self) -> datetime | None:
        if self.last.busy or (self.last.held_at is not None and self.slot_freed):
            return utcnow()  # go again at once: work is flowing, or a held row may now fit
        return due.next_delivery_moment(self.last.held_at)

    @property
    def held_back(self) -> bool:
        """Whether an attempt of this process ending matters: due rows wait for a slot, or a
        pass under way may find them waiting (the end would come before the pass says so)."""
        return self.in_pass or self.last.held_at is not None

    def attempt_finished(self) -> None:
        self.slot_freed = True
