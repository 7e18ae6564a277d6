"""Telling an unreachable database from a bug, for the error handlers (503, not 500) and for the
engine's code that waits an outage out (services may import this; they may not import errors.py).

Unreachable: the server stopped or restarting (connection refused, "terminating connection due
to administrator command", "the database system is starting up"), a connection lost mid-way,
SQLite's "database is locked" after its busy timeout, or the pool's TimeoutError when no
connection can be had. Everything psycopg calls an OperationalError is about the server or the
link, never about the SQL; SQLite's OperationalError also names SQL mistakes ("no such table"),
so only its lock and file errors count.
"""
import logging
import re

import sqlalchemy as sa

# What a client is told to wait before trying again: a PostgreSQL restart or a failover takes seconds.
RETRY_AFTER_SECONDS = 5

SQLITE_UNAVAILABLE = ("database is locked", "database is busy", "database table is locked",
                      "unable to open database file", "disk i/o error")
# SQLAlchemy's "Can't reconnect until invalid transaction is rolled back": the connection was lost.
LOST_CONNECTION_CODE = "8s2b"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_PASSWORD_OPTION = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` (or what it was raised from) says the database cannot be reached now."""
    for _ in range(5):  # a short walk down __cause__ / __context__
        if error is None:
            return False
        if _unavailable(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _unavailable(error: BaseException) -> bool:
    if isinstance(error, (sa.exc.TimeoutError, sa.exc.DisconnectionError)):
        return True
    if isinstance(error, sa.exc.PendingRollbackError):
        return getattr(error, "code", None) == LOST_CONNECTION_CODE
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, sa.exc.OperationalError):
        return False
    if type(error.orig).__module__.startswith("sqlite3"):
        text = str(error.orig).lower()
        return any(words in text for words in SQLITE_UNAVAILABLE)
    return True


def describe(error: BaseException) -> str:
    """One line for the log: the driver's own first line, without SQL, parameters or passwords."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    text = lines[0] if lines else ""
    text = _PASSWORD_OPTION.sub(r"\1•••", _PASSWORD_IN_URL.sub(r"\1•••@", text))
    return f"{type(original).__name__}: {text}"[:300]


def log_failure(logger: logging.Logger, error: BaseException, what: str) -> None:
    """For background work that tries again by itself: a traceback for a bug, one WARNING line
    while the database is unreachable (a restart would otherwise fill the log with tracebacks)."""
    if is_database_unavailable(error):
        logger.warning("%s: database unavailable (%s); trying again", what, describe(error))
    else:
        logger.error(what, exc_info=error)
