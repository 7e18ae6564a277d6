"""Engine set-up: SQLite pragmas (WAL, busy timeout, foreign keys) applied on every connection."""
import os
import threading
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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


def configure_engine(engine: Engine) -> None:
    """Apply per-dialect settings once per engine."""
    if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _set_sqlite_pragmas):
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
        sa.event.listen(engine, "savepoint", _begin_before_sqlite_savepoint)


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
    Nothing on PostgreSQL, whose row locks let writers run side by side."""
    if is_postgresql(db.engine):
        yield
        return
    with _write_lock:
        yield
