"""The in-process send pool: attempts run on a few threads so no request waits for a receiver.

One pool per process, created lazily in the process that uses it (never in a gunicorn master,
and again after a fork). Tasks carry ids, never ORM objects, and each runs in its own app
context whose session is removed at the end. `shutdown()` stops gracefully: queued claims are
given back as `pending`, attempts already under way finish (each bounded by its timeout).

Fair by workspace: each workspace has its own queue (a lane), taken in turn, so one tenant's
burst of thousands of alerts does not queue ahead of another's one alert; and one workspace
has at most TOCSIN_WORKSPACE_SEND_LIMIT attempts under way. The pool keeps TOCSIN_SEND_WORKERS
threads and, when all of them are busy (a slow receiver holds a thread for its whole timeout)
while another lane has work, starts another, up to TOCSIN_SEND_THREADS_MAX; threads beyond the
base leave after IDLE_EXIT_SECONDS idle. So a slow receiver can hold its workspace's share but
never the threads another workspace's alert needs (a FIFO of 8 threads let one workspace with
three 25 s receivers delay another's alert by 25 s).
"""
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from webapp import wakeups
from webapp.database import end_read, send_threads
from webapp.database_errors import log_failure
from webapp.extensions import db
from webapp.services.delivery import attempt, claims
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

IDLE_EXIT_SECONDS = 5.0  # a thread beyond TOCSIN_SEND_WORKERS idle this long leaves
# A task running this long counts as slow: it no longer takes a place in `free_capacity`, so the
# retry job keeps claiming for the threads the pool can add.
SLOW_SECONDS = 1.0


@dataclass(eq=False)
class _Task:
    app: Flask
    work: object
    args: tuple
    lane: int | None  # the workspace id (None: unknown)
    claim: tuple[int, datetime] | None = None  # claimed by the retry job: given back if never started


class _Pool:
    def __init__(self, base: int, ceiling: int, lane_limit: int):
        self.base, self.ceiling, self.lane_limit = base, max(base, ceiling), max(1, lane_limit)
        self.pid = os.getpid()
        lock = threading.Lock()
        self.work_ready = threading.Condition(lock)  # workers wait here for a task
        self.changed = threading.Condition(lock)  # a task finished (free_capacity, wait_idle, join)
        self.lanes: dict[int | None, deque[_Task]] = {}  # lanes with queued tasks, in turn order
        self.running: dict[int | None, int] = {}  # attempts under way per lane
        self.started_at: dict[int, float] = {}  # thread ident → when its task started
        self.threads = 0
        self.available = 0  # threads starting or waiting for a task
        self.outstanding = 0  # tasks submitted and not yet finished
        self.closed = False

    # -- under the lock -------------------------------------------------------------------------
    def _take(self) -> _Task | None:
        """The next task of the first lane, in turn, that is under its limit (that lane then
        goes to the back of the turn)."""
        for lane in list(self.lanes):
            if self.running.get(lane, 0) >= self.lane_limit:
                continue
            queue = self.lanes.pop(lane)
            task = queue.popleft()
            if queue:
                self.lanes[lane] = queue  # re-inserted: last in turn
            self.running[lane] = self.running.get(lane, 0) + 1
            return task
        return None

    def _startable(self) -> int:
        """Queued tasks that could start now, within their lanes' limits."""
        return sum(min(len(queue), self.lane_limit - self.running.get(lane, 0))
                   for lane, queue in self.lanes.items() if self.running.get(lane, 0) < self.lane_limit)

    def _wake_or_grow(self) -> None:
        """Make sure every startable task has a thread: wake waiting ones, start more if needed."""
        startable = self._startable()
        self.work_ready.notify(min(startable, self.available))
        missing = min(startable - self.available, self.ceiling - self.threads)
        for _ in range(max(0, missing)):
            self.threads += 1
            self.available += 1
            threading.Thread(target=self._serve, name=f"tocsin-send-{self.threads}", daemon=True).start()

    # -- worker threads -----------------------------------------------------------------------
    def _serve(self) -> None:
        me = threading.get_ident()
        while True:
            with self.work_ready:
                task = self._wait_for_task()
                if task is None:
                    self.threads -= 1
                    self.changed.notify_all()
                    return
                self.started_at[me] = time.monotonic()
            try:
                _run(task)
            finally:
                with self.work_ready:
                    del self.started_at[me]
                    self.running[task.lane] -= 1
                    if not self.running[task.lane]:
                        del self.running[task.lane]
                    self.outstanding -= 1
                    self.available += 1  # about to look for the next task
                    self.changed.notify_all()

    def _wait_for_task(self) -> _Task | None:
        """Called as an available thread; returns with the thread no longer available."""
        idle_since = time.monotonic()
        try:
            while not self.closed:
                task = self._take()
                if task is not None:
                    return task
                extra = self.threads > self.base
                if extra and time.monotonic() - idle_since >= IDLE_EXIT_SECONDS:
                    return None
                self.work_ready.wait(timeout=IDLE_EXIT_SECONDS if extra else None)
            return None
        finally:
            self.available -= 1

    # -- callers --------------------------------------------------------------------------------
    def submit(self, task: _Task) -> bool:
        with self.work_ready:
            if self.closed:
                return False
            self.lanes.setdefault(task.lane, deque()).append(task)
            self.outstanding += 1
            self._wake_or_grow()
            return True

    def free_capacity(self, wait_seconds: float, queued: int) -> int:
        refill_below = self.base + (queued + 1) // 2  # outstanding tasks under this: claim more
        with self.changed:
            if self._busy() >= refill_below and wait_seconds > 0:
                self.changed.wait_for(lambda: self._busy() < refill_below, timeout=wait_seconds)
            return max(0, self.base + queued - self._busy())

    def _busy(self) -> int:
        """Outstanding tasks but the slow ones (those wait on a receiver, and the pool adds threads)."""
        now = time.monotonic()
        slow = sum(1 for started in self.started_at.values() if now - started >= SLOW_SECONDS)
        return self.outstanding - min(slow, self.ceiling - self.base)

    def close(self) -> list[_Task]:
        """Stop: no new task; returns the queued ones (never started)."""
        with self.work_ready:
            self.closed = True
            unstarted = [task for queue in self.lanes.values() for task in queue]
            self.lanes.clear()
            self.outstanding -= len(unstarted)
            self.work_ready.notify_all()
            self.changed.notify_all()
            return unstarted

    def join(self, timeout: float | None = None) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.threads == 0, timeout=timeout)


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
            base, ceiling = send_threads(app.config)
            pool = _Pool(base, ceiling, int(app.config.get("TOCSIN_WORKSPACE_SEND_LIMIT") or base))
            _state["pool"] = pool
        return pool


def is_stopping() -> bool:
    return _state["stopping"]


def _run(task: _Task) -> None:
    with task.app.app_context():
        try:
            task.work(*task.args)
        except Exception as error:
            log_failure(log, error, f"delivery task {task.work.__name__}{task.args!r} failed")
            db.session.rollback()
        finally:
            db.session.remove()


def _first_attempt(delivery_id: int) -> None:
    if attempt.claim_and_attempt(delivery_id) is None:
        # Not claimed: another process has it, or its endpoint is at its limits; then a
        # scheduler must claim it once a slot frees, so let one know it is due.
        wakeups.wake_at(utcnow())


def _claimed_attempt(delivery_id: int, lease_until: datetime) -> None:
    attempt.attempt(delivery_id, lease_until)


_WORKSPACES = sa.text("SELECT id, workspace_id FROM delivery WHERE id IN :ids").bindparams(
    sa.bindparam("ids", expanding=True))


def _workspaces_of(delivery_ids: list[int]) -> dict[int, int]:
    """{delivery id: workspace id}, one query (callers outside a request: sweeps, the retry job)."""
    try:
        rows = db.session.execute(_WORKSPACES, {"ids": delivery_ids}).all()
        end_read()
        return dict(rows)
    except Exception:
        db.session.rollback()
        log.exception("could not read the workspaces of deliveries %s; they share one lane", delivery_ids[:10])
        return {}


def send_after_commit(app: Flask, delivery_ids, workspace_id: int | None = None) -> None:
    """The one way to hand just-committed deliveries (new alerts, redeliveries) to this process's
    send pool: their attempts start in the background and the caller never waits for a receiver.
    `workspace_id` names their workspace when all are of one (a request's); else it is read.
    Never raises: a delivery not handed over stays pending, and the retry job sends it."""
    if is_stopping() or not delivery_ids:
        return  # they stay pending; the retry job of a running process takes them
    try:
        ids = [int(delivery_id) for delivery_id in delivery_ids]
        lanes = {delivery_id: workspace_id for delivery_id in ids} if workspace_id is not None \
            else _workspaces_of(ids)
        pool = _pool(app)
        for delivery_id in ids:
            pool.submit(_Task(app, _first_attempt, (delivery_id,), lanes.get(delivery_id)))
    except Exception:
        log.exception("could not hand deliveries %s to the send pool; the retry job will send them",
                      list(delivery_ids))


def submit_claimed(app: Flask, claimed) -> None:
    """Attempt deliveries this process has already claimed (the retry job)."""
    claimed = list(claimed)
    if not claimed:
        return
    lanes = _workspaces_of([delivery_id for delivery_id, _ in claimed])
    pool = _pool(app)
    for delivery_id, lease_until in claimed:
        task = _Task(app, _claimed_attempt, (delivery_id, lease_until), lanes.get(delivery_id),
                     claim=(delivery_id, lease_until))
        if not pool.submit(task):
            _release(app, delivery_id, lease_until)


def free_capacity(app: Flask, wait_seconds: float = 0.0, queued: int = 0) -> int:
    """How many claims may be submitted now: free workers plus up to `queued` waiting in the
    local queue. With a queue, waits (up to `wait_seconds`) until it is below half, so each
    claim is a batch; without, until a worker is free. Attempts slow on their receiver do not
    count: the pool adds threads beside them."""
    return _pool(app).free_capacity(wait_seconds, queued)


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
            for task in pool.close():
                if task.claim is not None:
                    _release(task.app, *task.claim)
            if wait:
                pool.join()
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
