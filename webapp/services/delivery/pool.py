"""The in-process send pool: attempts run on a few threads so no request waits for a receiver.

One pool per process, created lazily in the process that uses it (never in a gunicorn master,
and again after a fork). Tasks carry ids, never ORM objects, and each runs in its own app
context whose session is removed at the end. `shutdown()` stops gracefully: queued claims are
given back as `pending`, attempts already under way finish (each bounded by its timeout).
"""
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from flask import Flask

from webapp import wakeups
from webapp.extensions import db
from webapp.services.delivery import attempt, claims
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)


class _Pool:
    def __init__(self, workers: int):
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tocsin-send")
        self.pid = os.getpid()
        self.outstanding = 0  # tasks submitted and not yet finished
        self.claimed: dict[Future, tuple[Flask, int, datetime]] = {}
        self.changed = threading.Condition()


_lock = threading.Lock()
_state: dict = {"pool": None, "stopping": False}


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _state.update(pool=None, stopping=False)


os.register_at_fork(after_in_child=_reset_after_fork)


def _pool(app: Flask) -> _Pool:
    with _lock:
        pool = _state["pool"]
        if pool is None or pool.pid != os.getpid():
            pool = _Pool(max(1, int(app.config.get("TOCSIN_SEND_WORKERS", 8))))
            _state["pool"] = pool
        return pool


def is_stopping() -> bool:
    return _state["stopping"]


def _run(pool: _Pool, app: Flask, work, *args) -> None:
    try:
        with app.app_context():
            try:
                work(*args)
            except Exception:
                log.exception("delivery task %s%r failed", work.__name__, args)
                db.session.rollback()
            finally:
                db.session.remove()
    finally:
        with pool.changed:
            pool.outstanding -= 1
            pool.changed.notify_all()


def _submit(app: Flask, work, *args) -> Future | None:
    pool = _pool(app)
    with pool.changed:
        pool.outstanding += 1
    try:
        return pool.executor.submit(_run, pool, app, work, *args)
    except RuntimeError:  # the pool is shutting down: the row stays due for a later claim
        with pool.changed:
            pool.outstanding -= 1
        return None


def _first_attempt(delivery_id: int) -> None:
    if attempt.claim_and_attempt(delivery_id) is None:
        # Not claimed: another process has it, or its endpoint is at its limits; then a
        # scheduler must claim it once a slot frees, so let one know it is due.
        wakeups.wake_at(utcnow())


def _claimed_attempt(delivery_id: int, lease_until: datetime) -> None:
    attempt.attempt(delivery_id, lease_until)


def send_after_commit(app: Flask, delivery_ids) -> None:
    """The one way to hand just-committed deliveries (new alerts, redeliveries) to this process's
    send pool: their attempts start in the background and the caller never waits for a receiver.
    Never raises: a delivery not handed over stays pending, and the retry job sends it."""
    if is_stopping() or not delivery_ids:
        return  # they stay pending; the retry job of a running process takes them
    try:
        for delivery_id in delivery_ids:
            _submit(app, _first_attempt, int(delivery_id))
    except Exception:
        log.exception("could not hand deliveries %s to the send pool; the retry job will send them",
                      list(delivery_ids))


def submit_claimed(app: Flask, claims) -> None:
    """Attempt deliveries this process has already claimed (the retry job)."""
    for delivery_id, lease_until in claims:
        pool = _pool(app)
        future = _submit(app, _claimed_attempt, delivery_id, lease_until)
        if future is None:
            _release(app, delivery_id, lease_until)
            continue
        with pool.changed:
            pool.claimed[future] = (app, delivery_id, lease_until)
        future.add_done_callback(lambda done, pool=pool: _forget(pool, done))


def _forget(pool: _Pool, future: Future) -> None:
    if future.cancelled():
        return  # shutdown() gives cancelled claims back
    with pool.changed:
        pool.claimed.pop(future, None)


def free_capacity(app: Flask, wait_seconds: float = 0.0, queued: int = 0) -> int:
    """How many claims may be submitted now: free workers plus up to `queued` waiting in the
    local queue. With a queue, waits (up to `wait_seconds`) until it is below half, so each
    claim is a batch; without, until a worker is free."""
    pool = _pool(app)
    refill_below = pool.workers + (queued + 1) // 2  # outstanding tasks under this: claim more
    with pool.changed:
        if pool.outstanding >= refill_below and wait_seconds > 0:
            pool.changed.wait_for(lambda: pool.outstanding < refill_below, timeout=wait_seconds)
        return max(0, pool.workers + queued - pool.outstanding)


def wait_idle(timeout: float = 10.0) -> bool:
    """Block until every submitted task has finished (tests and graceful stops)."""
    pool = _state["pool"]
    if pool is None:
        return True
    with pool.changed:
        return pool.changed.wait_for(lambda: pool.outstanding == 0, timeout=timeout)


def begin_stop() -> None:
    """Stop taking new work in this process (the retry job stops claiming)."""
    _state["stopping"] = True


def shutdown(wait: bool = True) -> None:
    """Graceful stop: give queued claims back, let running attempts finish (when `wait`)."""
    begin_stop()
    with _lock:
        pool, _state["pool"] = _state["pool"], None
    try:
        if pool is not None and pool.pid == os.getpid():
            pool.executor.shutdown(wait=wait, cancel_futures=True)
            with pool.changed:
                unstarted = [pool.claimed.pop(future) for future in list(pool.claimed) if future.cancelled()]
            for app, delivery_id, lease_until in unstarted:
                _release(app, delivery_id, lease_until)
    finally:
        _state["stopping"] = False  # a later start in this process (tests) may use a new pool


def _release(app: Flask, delivery_id: int, lease_until: datetime) -> None:
    with app.app_context():
        try:
            claims.release(delivery_id, lease_until)
        except Exception:
            log.exception("could not release delivery %s; its lease will expire instead", delivery_id)
        finally:
            db.session.remove()
