"""Precise wake-ups: each scheduler process runs one loop that does whatever is due, then sleeps
until the earliest next due moment, and work that makes something due earlier wakes it.

- `WakeupLoop` (started and stopped by webapp/scheduler.py) runs its sources in turn: each is a
  job (`run(app)`) with the moment it next has work (`next_moment()`, one index probe). A pass
  runs the sources whose moment has come, reads every source's next moment and sleeps until the
  earliest. Every job claims its rows atomically, so any number of loops in any number of
  processes and hosts may run at once.
- `wake_at(moment)`, called after the commit that makes something due: in this process the
  loop wakes at once when `moment` is earlier than it sleeps for. For other processes, on
  PostgreSQL, a NOTIFY on `tocsin_wakeups` (each loop has a listener thread) — sent only when no
  loop runs here (this one will do the work) and the moment is sooner than the longest sleep
  (TOCSIN_SWEEP_INTERVAL), so far deadlines cost nothing. On SQLite nothing crosses processes:
  the loop sleeps at most TOCSIN_WAKEUP_POLL (0.5 s) between its index probes.
- Safe without a scheduler in the process (a web worker): the in-process part is then a no-op.
"""
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

from webapp.database import autocommit_connection, end_read, is_postgresql, open_listener
from webapp.database_errors import is_database_unavailable, log_failure
from webapp.extensions import db
from webapp.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

CHANNEL = "tocsin_wakeups"
# A source that ran and left work that was due before it started (another process holds those
# rows, or a bug keeps them due) is looked at again after this, not in a busy loop.
STUCK_RETRY = timedelta(seconds=0.25)
LISTEN_SECONDS = 1.0  # how often the listener looks up from its connection (to notice a stop)
RECONNECT_SECONDS = 1.0


@dataclass(frozen=True)
class Source:
    """One kind of due work: its job, and when it next has work (None: nothing scheduled).
    `longest_sleep`: while this source has work scheduled, the loop sleeps at most this long."""

    name: str
    run: Callable[[Flask], object]
    next_moment: Callable[[], datetime | None]
    longest_sleep: float | None = None


_loops: list["WakeupLoop"] = []  # the loops running in this process


def _reset_after_fork() -> None:
    _loops.clear()  # their threads did not come along


os.register_at_fork(after_in_child=_reset_after_fork)


class WakeupLoop:
    def __init__(self, app: Flask, sources: list):
        self.app = app
        self.sources = list(sources)
        with app.app_context():
            self.postgresql = is_postgresql(db.engine)
        config = app.config
        # On PostgreSQL NOTIFY wakes the loop, so its longest sleep is only a safety net; on
        # SQLite the short poll is how reports of other processes are seen.
        self.longest_sleep = float(config["TOCSIN_SWEEP_INTERVAL"] if self.postgresql
                                   else config["TOCSIN_WAKEUP_POLL"])
        self.moments: dict[str, datetime | None] = {}
        self.passes = 0
        self.listening = threading.Event()  # PostgreSQL: LISTEN is in place (tests wait for it)
        self._changed = threading.Condition()
        self._wake_pending: datetime | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- control ----------------------------------------------------------------------------

    def start(self) -> "WakeupLoop":
        self._threads = [threading.Thread(target=self._run, name="tocsin-wakeups", daemon=True)]
        if self.postgresql:
            self._threads.append(threading.Thread(target=self._listen, name="tocsin-wakeups-listen", daemon=True))
        _loops.append(self)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the pass under way (the retry pass ends as soon as the pool stops)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        if self in _loops:
            _loops.remove(self)

    @property
    def running(self) -> bool:
        return not self._stopping.is_set() and any(thread.is_alive() for thread in self._threads)

    def wake(self, moment: datetime) -> None:
        """Wake the loop if `moment` is earlier than it would otherwise look."""
        with self._changed:
            if self._wake_pending is None or moment < self._wake_pending:
                self._wake_pending = moment
                self._changed.notify_all()

    def attempt_finished(self) -> None:
        """A delivery attempt of this process ended: a concurrency slot is free, which matters
        only while a source waits for one."""
        waiting = [source for source in self.sources if getattr(source, "held_back", False)]
        for source in waiting:
            source.attempt_finished()
        if waiting:
            self.wake(utcnow())

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self.app.app_context():
                try:
                    started, ran = self._run_due()
                    self._read_moments(started, ran)
                except Exception as error:  # the loop must outlive any database error
                    log_failure(log, error, "wake-up loop pass failed")
                    db.session.rollback()
                    self.moments = {}
                    self._stopping.wait(1.0)
                finally:
                    db.session.remove()
            self.passes += 1
            self._sleep()

    def _run_due(self) -> tuple[datetime, dict[str, object]]:
        """Run each source whose moment has come (every source on the first pass)."""
        started = utcnow()
        ran: dict[str, object] = {}
        for source in self.sources:
            moment = self.moments.get(source.name, started)
            if moment is None or moment > started or self._stopping.is_set():
                continue
            try:
                ran[source.name] = source.run(self.app)
            except Exception as error:
                if is_database_unavailable(error):
                    raise  # ends the pass: the other sources would meet it too (one log line, see _run)
                log.exception("scheduler job %s failed", source.name)
                db.session.rollback()
                ran[source.name] = None
        return started, ran

    def _read_moments(self, started: datetime, ran: dict[str, object]) -> None:
        with self._changed:
            self._wake_pending = None  # a wake from here on is seen before the loop sleeps
        moments = {}
        for source in self.sources:
            moment = source.next_moment()
            if source.name in ran and not ran[source.name] and moment is not None and moment <= started:
                moment = utcnow() + STUCK_RETRY
            moments[source.name] = moment
        end_read()
        self.moments = moments

    def _sleep(self) -> None:
        longest = [self.longest_sleep] + [source.longest_sleep for source in self.sources
                                          if source.longest_sleep and self.moments.get(source.name)]
        target = min([utcnow() + timedelta(seconds=min(longest))]
                     + [moment for moment in self.moments.values() if moment is not None])
        with self._changed:
            while not self._stopping.is_set():
                if self._wake_pending is not None and self._wake_pending < target:
                    return
                remaining = (target - utcnow()).total_seconds()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)

    # --- PostgreSQL: hear other processes' wake-ups -------------------------------------------

    def _listen(self) -> None:
        with self.app.app_context():
            engine = db.engine
        failing = False
        while not self._stopping.is_set():
            listener = None
            try:
                listener, connection = open_listener(engine, CHANNEL)
                self.wake(utcnow())  # notices sent while nobody listened: look at the indexes again
                self.listening.set()
                failing = False
                while not self._stopping.is_set():
                    for notice in connection.notifies(timeout=LISTEN_SECONDS):
                        self.wake(_moment(notice.payload))
            except Exception as error:  # noqa: BLE001  (reconnect and go on)
                if not self._stopping.is_set():
                    (log.debug if failing else log.warning)(
                        "wake-up listener lost its connection (%s: %s); the loop polls every %g s until it is back",
                        type(error).__name__, error, self.longest_sleep)
                    failing = True
            finally:
                self.listening.clear()
                if listener is not None:
                    try:
                        listener.close()
                    except Exception:  # noqa: BLE001
                        pass
            self._stopping.wait(RECONNECT_SECONDS)


def _moment(payload: str) -> datetime:
    try:
        return datetime.fromisoformat(payload)
    except ValueError:
        return utcnow()


def _local_loops() -> list[WakeupLoop]:
    app = current_app._get_current_object() if has_app_context() else None
    return [loop for loop in list(_loops) if loop.running and (app is None or loop.app is app)]


def wake_at(moment: datetime | None) -> None:
    """Something falls due at `moment` (None: nothing): call after the commit that made it so.
    Never raises: a lost wake-up only delays the work until the loop's longest sleep."""
    if moment is None:
        return
    try:
        local = _local_loops()
        for loop in local:
            loop.wake(moment)
        if local or not has_app_context():
            return
        if moment > utcnow() + timedelta(seconds=float(current_app.config["TOCSIN_SWEEP_INTERVAL"])):
            return  # every loop looks at the indexes again before then
        if is_postgresql(db.engine):
            autocommit_connection().execute(sa.select(sa.func.pg_notify(CHANNEL, isoformat(moment))))
    except Exception:
        log.exception("could not announce work due at %s; it waits for a loop's next look", moment)


def attempt_finished() -> None:
    """A delivery attempt ended in this process: wake a loop waiting for its endpoint's slot."""
    for loop in _local_loops():
        loop.attempt_finished()
