"""The scheduler's jobs (wired in webapp/scheduler.py). Each is safe in any number of processes:
rows are taken with atomic claims and leases, never with an in-memory lock."""
import logging
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.services import delivery, dispatch, heartbeat
from webapp.services.sweeps import sweep_deadlines  # noqa: F401  (a scheduler job)
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

CLAIM_BATCH = 64
LIMITED_POLL_SECONDS = 0.2  # due rows waiting for an endpoint's concurrency or rate limit
PRUNE_BATCH = 1000


def retry_due_deliveries(app: Flask) -> int:
    """Claim due deliveries (retries, expired leases) and attempt them on the send pool.

    Claims in batches of up to CLAIM_BATCH into the pool's short local queue, refilled when it
    runs below half (one claim then pays for many attempts). A queued claim's lease still
    covers the wait: the queue drains in well under a second at full speed, and an attempt
    whose lease no longer covers a whole attempt gives the row back instead of sending.
    Keeps going while work flows, for about one interval. Returns how many deliveries it claimed.
    """
    claimed = 0
    budget = max(0.5, 0.9 * float(app.config.get("TOCSIN_RETRY_INTERVAL", 2.0)))
    stop_at = time.monotonic() + budget
    while not dispatch.is_stopping() and time.monotonic() < stop_at:
        capacity = dispatch.free_capacity(app, wait_seconds=min(1.0, budget), queued=CLAIM_BATCH)
        if capacity == 0:
            continue
        claims = delivery.claim_due(min(capacity, CLAIM_BATCH))
        if claims:
            dispatch.submit_claimed(app, claims)
            claimed += len(claims)
        elif delivery.has_due():
            time.sleep(LIMITED_POLL_SECONDS)
        else:
            break
    return claimed


def prune_history(app: Flask) -> int:
    """Delete attempts and finished deliveries older than TOCSIN_HISTORY_DAYS, in small batches."""
    cutoff = utcnow() - timedelta(days=float(app.config.get("TOCSIN_HISTORY_DAYS", 30)))
    removed = _delete_in_batches(DeliveryAttempt, DeliveryAttempt.started_at < cutoff)
    removed += _delete_in_batches(Delivery, Delivery.status.in_(("delivered", "dead")),
                                  Delivery.finished_at < cutoff)
    heartbeat.prune_stale()
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
