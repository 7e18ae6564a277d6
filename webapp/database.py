"""Engine set-up: SQLite pragmas (WAL, busy timeout, foreign keys) applied on every connection."""
import os
import threading
import time
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, g
from sqlalchemy.engine import Connection, Engine

from webapp.extensions import db


def _set_sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_before_sqlite_savepoint(connection, _name):
    """pysqlite opens no transaction for SAVEPOINT, so SQLite starts one that RELEASE commits
    (the run was committed apart from its alerts) and a later write after a read in it fails at
    once with "database is locked" when another process committed meanwhile. Opening the
    transaction first, with the write lock (waiting up to busy_timeout), avoids both."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


# A pooled connection idle for longer than this is pinged before use (see _ping_if_idle).
IDLE_SECONDS_BEFORE_PING = 10.0


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect):
    """A pool checkout listener that pings a connection only after it sat idle: a restarted or
    failed-over database server drops connections while they wait in the pool, not while they
    are busy. SQLAlchemy's pool_pre_ping pings on every checkout, one more round trip on every
    request and every delivery attempt (a sixth of a run report's time on PostgreSQL). Raising
    DisconnectionError makes the pool replace the connection and try again (up to three times).
    A server lost between two busy requests still fails one statement; SQLAlchemy then
    invalidates the pool's older connections, so the next checkouts connect afresh."""
    def listener(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_SECONDS_BEFORE_PING:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError(f"a pooled connection was dead after {time.monotonic() - idle_since:.0f} s "
                                            f"idle: {error}") from error
    return listener


# Connections the scheduler's threads may hold at once: the wake-up loop (claims, sweeps), the
# heartbeat, pruning and a spare. LISTEN connections are their own, outside the pool.
SCHEDULER_CONNECTIONS = 4


def pool_sizes(config: dict, postgresql: bool) -> tuple[int, int]:
    """(pool_size, max_overflow) from the threads that can hold a connection at once, so no
    thread ever waits for one (a thread waiting for a connection while others wait for the
    SQLite write lock was how a burst of run reports timed out after 30 s).

    Web threads (TOCSIN_WEB_THREADS, which gunicorn.conf.py sets from gunicorn's threads) hold
    one each, two on PostgreSQL (the autocommit connection beside the session's); the send pool
    its TOCSIN_SEND_WORKERS in steady use and up to TOCSIN_SEND_THREADS_MAX when slow receivers
    make it add threads; plus SCHEDULER_CONNECTIONS. The pool keeps up to `pool_size` open
    (TOCSIN_DB_POOL_SIZE, else the steady figure) and opens the rest only at peaks. Nothing is
    opened before it is needed, so an idle process holds few."""
    send, send_max = send_threads(config)
    steady = config["TOCSIN_WEB_THREADS"] * (2 if postgresql else 1) + send + SCHEDULER_CONNECTIONS
    size = config["TOCSIN_DB_POOL_SIZE"] or steady
    return size, max(0, steady + send_max - send - size)


def send_threads(config: dict) -> tuple[int, int]:
    """(the send pool's steady threads, the most it may run), as the pool reads them."""
    send = max(1, int(config.get("TOCSIN_SEND_WORKERS", 8)))
    return send, max(send, int(config.get("TOCSIN_SEND_THREADS_MAX") or 4 * send))


def engine_options(config: dict) -> dict:
    """SQLAlchemy engine options for the configured database: the pool sized by `pool_sizes`.

    On PostgreSQL a pool smaller than a busy process's threads closed connections on return and
    opened them again moments later, each a new server process with a cold catalog cache (the
    delivery benchmark ran 20 % faster without that churn). An in-memory SQLite database keeps
    SQLAlchemy's own pool (one connection per thread)."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    postgresql = url.get_backend_name() == "postgresql"
    if postgresql or (url.database or ":memory:") != ":memory:":
        size, overflow = pool_sizes(config, postgresql)
        options.setdefault("pool_size", size)
        options.setdefault("max_overflow", overflow)
    return options


# PostgreSQL ends a transaction of ours left idle this long. A host whose link is cut mid-
# transaction leaves its session open, holding row locks, until TCP keepalive gives up (two hours
# by default): every guarded UPDATE of those rows on other hosts would wait as long. Claims and
# outcome writes set a shorter limit of their own (claims.take_claim_lock); this is the net
# under every other transaction. None of ours idles between statements for anything like it.
IDLE_TRANSACTION_LIMIT = "60s"


def _limit_idle_transactions(dbapi_connection, _record) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_TRANSACTION_LIMIT}'")
    dbapi_connection.commit()


def configure_engine(engine: Engine) -> None:
    """Apply per-dialect settings once per engine."""
    if engine.dialect.name == "sqlite":
        if not sa.event.contains(engine, "connect", _set_sqlite_pragmas):
            sa.event.listen(engine, "connect", _set_sqlite_pragmas)
            sa.event.listen(engine, "savepoint", _begin_before_sqlite_savepoint)
    elif not sa.event.contains(engine.pool, "checkin", _note_checkin):
        sa.event.listen(engine.pool, "checkin", _note_checkin)
        sa.event.listen(engine.pool, "checkout", _ping_if_idle(engine.dialect))
        sa.event.listen(engine, "connect", _limit_idle_transactions)


def autocommit_connection() -> Connection:
    """This request's connection for work that is one statement: a read, or a write that is
    atomic on its own and that the view commits (on PostgreSQL it is durable at once).

    On PostgreSQL it runs outside any transaction: in one, such a statement costs two more
    round trips (psycopg sends BEGIN alone, then COMMIT), a third of a run report's database
    work. It is checked out on first use and returned when the request or app context ends
    (`init_app`). Anything that writes more than one row uses the session's transaction.

    On SQLite it is the session's own connection: pysqlite opens no transaction for a read and
    one for the first write, which the view's commit ends. There is no round trip to save, and
    switching a SQLite connection to autocommit and back costs a PRAGMA each way."""
    connection = g.get("_autocommit_connection")
    if connection is not None:
        return connection
    engine = db.engine
    if not is_postgresql(engine):
        return db.session.connection()
    connection = g._autocommit_connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return connection


def end_read() -> None:
    """End the session's read-only transaction with COMMIT, not ROLLBACK: the two undo nothing
    different after reads, but psycopg forgets every prepared statement of the connection at a
    ROLLBACK (it cannot tell what the rollback undid), and sends DEALLOCATE ALL next time. A
    connection whose reads end in rollbacks has PostgreSQL plan every statement afresh."""
    db.session.commit()


def release_before_waiting() -> None:
    """Before a network call: end the read (`end_read`) and return the autocommit connection, so
    no pooled connection waits on a receiver with the caller (a test send runs in a request)."""
    end_read()
    _release_autocommit_connection()


def _release_autocommit_connection(_error=None) -> None:
    connection = g.pop("_autocommit_connection", None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    """Return the autocommit connection after each request, and with its app context (code
    outside a request, such as a CLI command or a test, uses one too)."""
    app.teardown_request(_release_autocommit_connection)
    app.teardown_appcontext(_release_autocommit_connection)


def open_listener(engine: Engine, channel: str):
    """A PostgreSQL connection of its own (never handed back to the pool), in autocommit, that
    LISTENs on `channel`; returns (the pool's wrapper to close, the psycopg connection)."""
    listener = engine.raw_connection()
    listener.detach()
    connection = listener.dbapi_connection
    connection.autocommit = True
    connection.execute(f"LISTEN {channel}")
    return listener, connection


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def render_migration_item(type_, obj, autogen_context):
    """Autogenerate writes UTCDateTime as a plain DateTime(timezone=True): migrations stay standalone."""
    from webapp.timeutil import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


_write_lock = threading.Lock()


def _reset_write_lock_after_fork() -> None:
    global _write_lock
    _write_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_write_lock_after_fork)


@contextmanager
def serialised_writes():
    """On SQLite, one write transaction at a time per process: threads queue on a lock instead
    of sleeping in SQLite's busy handler (other processes still meet the busy timeout).
    Nothing on PostgreSQL, whose row locks let writers run side by side.

    A thread hands its pooled connection back before it queues (`_hand_back_connection`): the
    holder of the lock may need a connection, and threads queued while holding the pool's
    connections starved it until the pool's 30 s timeout (a burst of 40 run reports answered
    8 × 500). So nobody waits for the lock holding a connection, and the holder waits for a
    connection only behind readers, which never wait for the lock."""
    if is_postgresql(db.engine):
        yield
        return
    _hand_back_connection()
    with _write_lock:
        yield


class WriteBeforeLock(RuntimeError):
    """A write was made before `serialised_writes`: it holds SQLite's own lock while queuing for ours."""


def _hand_back_connection() -> None:
    """End the session's read-only transaction so its connection returns to the pool."""
    session = db.session()  # the thread's Session (the scoped proxy lacks in_transaction)
    if not session.in_transaction():
        return
    changed = session.new or session.deleted or any(session.is_modified(row) for row in session.dirty)
    if changed or session.connection().connection.dbapi_connection.in_transaction:
        raise WriteBeforeLock("write inside serialised_writes(), not before it")
    end_read()
