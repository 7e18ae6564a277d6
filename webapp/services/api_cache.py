"""A per-process cache of the rows every API request reads, on PostgreSQL: live API keys, jobs
by slug and active rule filters. With it a run report costs one statement (its INSERT) instead
of three or four, and each statement on PostgreSQL costs more CPU than the rest of the request.

Freshness, without a time-to-live:
- Triggers (`webapp/models/change_notices.py`) NOTIFY `tocsin_cached_rows` in the transaction
  that revokes a key or changes a job or rule. Each process's listener thread clears its cache
  when a notice arrives, milliseconds after the commit.
- The cache answers only while the listener proves that it hears. Every `probe_seconds` it sends
  a notice of its own through the app's connection pool. PostgreSQL delivers notices in commit
  order, so when the probe comes back every change committed before it was sent has been
  applied. If no probe has come back for `trust_seconds` (a lost connection, or a pooler such
  as PgBouncer in transaction mode that drops LISTEN), the cache stops answering and requests
  read the database as they would without it. A lost connection also clears it.
- A row read while a notice was being applied is not stored (the generation check in `put`).

So a revoked key stops working within milliseconds on every process, and within
`trust_seconds` (5 s) even if a listener falls behind or its connection hangs without failing. SQLite needs none of this
(its statements cost microseconds, in process) and gets no cache. `TOCSIN_API_CACHE=off` turns
it off.
"""
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Hashable

import sqlalchemy as sa
from flask import Flask, current_app

from webapp.database import is_postgresql, open_listener
from webapp.extensions import db
from webapp.models.change_notices import CHANNEL

log = logging.getLogger(__name__)

EXTENSION = "tocsin_api_cache"
PROBE_SECONDS = 2.0
TRUST_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
# Beyond this it starts afresh. Misses (an attacker's unknown keys) are never stored.
MAX_ENTRIES = 20_000
PROBE_PREFIX = "probe "


class ApiCache:
    """The cache of one process; its listener thread starts on first use (after a fork, anew)."""

    def __init__(self, app: Flask, *, probe_seconds: float = PROBE_SECONDS, trust_seconds: float = TRUST_SECONDS):
        self._app = app
        self.probe_seconds = probe_seconds
        self.trust_seconds = trust_seconds
        self._lock = threading.RLock()  # _start clears while holding it
        self._entries: dict[Hashable, object] = {}
        self._generation = 0
        self._trusted_until = 0.0
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failing = False
        self.listener_pid: int | None = None

    def get(self, key: Hashable):
        """The cached value, or None: not cached, or the cache cannot be trusted at this moment."""
        if self._pid != os.getpid():
            self._start()
        return self._entries.get(key) if self.trusted() else None

    def generation(self) -> int:
        """Read before loading a value from the database; pass it to `put`."""
        return self._generation

    def put(self, key: Hashable, value, generation: int) -> None:
        """Store a value loaded from the database, unless a notice arrived since `generation`."""
        with self._lock:
            if generation != self._generation or not self.trusted():
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = value

    def forget(self, key: Hashable) -> None:
        """Drop one entry the database just contradicted (a load under way does not put it back)."""
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    def trusted(self) -> bool:
        return time.monotonic() < self._trusted_until

    def stop(self) -> None:
        """Stop the listener (at most one probe interval later) and forget everything."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(self.probe_seconds + 1)
        self._clear(distrust=True)

    # --- the listener -----------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid() or self._stopping.is_set():
                return
            self._pid = os.getpid()
            self._clear(distrust=True)  # inherited through a fork: the parent's listener did not come along
            self._thread = threading.Thread(target=self._run, name="tocsin-api-cache", daemon=True)
            self._thread.start()

    def _clear(self, *, distrust: bool) -> None:
        """Empty the cache. A change notice keeps the trust the last probe earned (the listener
        still hears); a lost connection does not (notices may have been missed)."""
        with self._lock:
            if distrust:
                self._trusted_until = 0.0
            self._generation += 1
            self._entries.clear()

    def _run(self) -> None:
        with self._app.app_context():
            engine = db.engine
        while not self._stopping.is_set():
            listener = None
            try:
                listener, connection = open_listener(engine, CHANNEL)
                self.listener_pid = connection.info.backend_pid  # for pg_stat_activity (and the tests)
                self._failing = False
                self._listen(engine, connection)
            except Exception as error:  # noqa: BLE001  (any failure: distrust, reconnect, go on)
                if not self._stopping.is_set():
                    # Once per outage, not once a second while the database is down.
                    (log.debug if self._failing else log.warning)(
                        "API cache listener lost its connection (%s: %s); reading the database until "
                        "it is back", type(error).__name__, error)
                    self._failing = True
            finally:
                self._clear(distrust=True)
                if listener is not None:
                    try:
                        listener.close()
                    except Exception:  # noqa: BLE001
                        pass
            self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self, engine: sa.Engine, connection) -> None:
        """Send a probe, apply notices until the next one is due, trust up to the last probe back."""
        token = f"{PROBE_PREFIX}{os.getpid()} {secrets.token_hex(4)} "
        number = 0
        while not self._stopping.is_set():
            number += 1
            probe, sent_at = f"{token}{number}", time.monotonic()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sender:
                sender.execute(sa.select(sa.func.pg_notify(CHANNEL, probe)))
            for notice in connection.notifies(timeout=self.probe_seconds):
                if notice.payload == probe:
                    self._trusted_until = sent_at + self.trust_seconds
                elif not notice.payload.startswith(PROBE_PREFIX):
                    self._clear(distrust=False)
                if self._stopping.is_set():
                    return


def init_app(app: Flask) -> None:
    """One cache per app, on PostgreSQL with TOCSIN_API_CACHE on (the default outside tests)."""
    if not app.config.get("TOCSIN_API_CACHE"):
        return
    with app.app_context():
        if not is_postgresql(db.engine):
            return
    app.extensions[EXTENSION] = ApiCache(app)


def current() -> ApiCache | None:
    return current_app.extensions.get(EXTENSION)


def cached(key: Hashable, load: Callable[[], object]):
    """`load()`'s value, from the cache when it holds one; None (a miss) is never stored."""
    cache = current()
    if cache is None:
        return load()
    value = cache.get(key)
    if value is None:
        generation = cache.generation()
        value = load()
        if value is not None:
            cache.put(key, value, generation)
    return value


def forget(key: Hashable) -> None:
    cache = current()
    if cache is not None:
        cache.forget(key)


def stop(app: Flask) -> None:
    cache = app.extensions.get(EXTENSION)
    if cache is not None:
        cache.stop()
