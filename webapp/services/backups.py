"""`tocsin backup` and `tocsin restore`: a consistent copy of the whole database while Tocsin runs,
and its restore into an empty database.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies the file page by page under a
read transaction, so writers of a running `make run` (WAL) go on and the copy is one moment's
state. PostgreSQL: `pg_dump --format=custom` (one snapshot, so also consistent) and `pg_restore`.
The password of `DATABASE_URL` goes to them in PGPASSWORD, never on a command line.

A backup holds endpoint URLs, secrets and headers encrypted with TOCSIN_ENCRYPTION_KEY or the
key derived from SECRET_KEY: restoring it is useful only with the same keys, which is why both
commands say so and restore checks that the configured keys decrypt what it brought back.
"""
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from webapp.services import health_check

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"
PG_TOOL_TIMEOUT_SECONDS = 3600
# Rows that make a database "not empty": what a person made. Heartbeats and throttle counts
# appear as soon as Tocsin runs and are nobody's data.
DATA_TABLES = ("user", "workspace", "endpoint", "job", "rule", "alert", "delivery")

KEY_WARNING = ("The backup holds endpoint URLs, signing secrets and headers encrypted with "
               "TOCSIN_ENCRYPTION_KEY (or, when it is empty, a key derived from SECRET_KEY). Keep those "
               "settings with the backup, somewhere else: without the same keys a restored Tocsin cannot "
               "send to any endpoint.")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is a sentence for the operator."""


@dataclass(frozen=True)
class Outcome:
    lines: list[str]  # what the command prints, in order
    warning: bool = False  # the restored endpoints do not decrypt with the configured keys


# --- backup ---------------------------------------------------------------------------------------

def backup(app: Flask, destination: Path, *, overwrite: bool = False) -> Outcome:
    if destination.exists() and not overwrite:
        raise BackupError(f"{destination} already exists: choose a new file, or pass --force to replace it.")
    if destination.parent and not destination.parent.is_dir():
        raise BackupError(f"The folder {destination.parent} does not exist.")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    partial = destination.with_name(destination.name + ".partial")
    try:
        if url.get_backend_name() == "sqlite":
            source = _sqlite_file(url)
            _sqlite_copy(source, partial)
            how = f"SQLite: copied {source} with SQLite's online backup API"
        elif url.get_backend_name() == "postgresql":
            _run_pg_tool("pg_dump", ["--format=custom", "--no-owner", f"--file={partial}"], url)
            how = f"PostgreSQL: pg_dump --format=custom of database {url.database!r} on {url.host or 'localhost'}"
        else:
            raise BackupError(f"Tocsin cannot back up a {url.get_backend_name()} database.")
        partial.replace(destination)  # a failed copy never leaves a file that looks like a backup
    finally:
        partial.unlink(missing_ok=True)
    size = destination.stat().st_size
    return Outcome([f"{how}: wrote {destination} ({size:,} bytes).", f"WARNING: {KEY_WARNING}"])


def _sqlite_file(url) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("DATABASE_URL names an in-memory SQLite database: there is no file to back up.")
    path = Path(url.database)
    if not path.is_file():
        raise BackupError(f"The SQLite database {path} does not exist.")
    return path


def _sqlite_copy(source: Path, destination: Path) -> None:
    """Page by page, into `destination` (created or overwritten), as one consistent moment."""
    try:
        with _sqlite(source, read_only=True) as reader, _sqlite(destination) as writer:
            reader.backup(writer)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not copy the database: {error}.") from None


def _sqlite(path: Path, *, read_only: bool = False) -> closing:
    """A sqlite3 connection closed on exit (sqlite3's own context manager only commits)."""
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) if read_only
                   else sqlite3.connect(path, timeout=30))


# --- restore --------------------------------------------------------------------------------------

def restore(app: Flask, source: Path) -> Outcome:
    if not source.is_file():
        raise BackupError(f"{source} does not exist or is not a file.")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    kind = _kind_of(source)
    if kind == "unknown":
        raise BackupError(f"{source} is not a Tocsin backup (neither a SQLite file nor a pg_dump archive).")
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    try:
        _refuse_unless_empty(engine)
        if url.get_backend_name() == "sqlite":
            if kind != "sqlite":
                raise BackupError(f"{source} is {_kind_words(kind)}, not a SQLite backup: this Tocsin uses SQLite.")
            _refuse_without_tocsin_tables(source)
            target = Path(url.database)
            engine.dispose()
            _sqlite_copy(source, target)
            how = f"SQLite: restored {source} into {target}"
        elif url.get_backend_name() == "postgresql":
            if kind != "pg_dump":
                raise BackupError(f"{source} is {_kind_words(kind)}, not a PostgreSQL backup: this Tocsin uses "
                                  "PostgreSQL.")
            _drop_empty_tables(engine)
            _run_pg_tool("pg_restore", ["--no-owner", "--exit-on-error", f"--dbname={_conninfo(url)}", str(source)],
                         url, with_dbname=False)
            how = f"PostgreSQL: pg_restore of {source} into database {url.database!r}"
        else:
            raise BackupError(f"Tocsin cannot restore into a {url.get_backend_name()} database.")
        lines, warning = _after_restore(app, engine)
        return Outcome([f"{how}.", *lines], warning=warning)
    finally:
        engine.dispose()


def _kind_of(path: Path) -> str:
    with open(path, "rb") as file:
        head = file.read(16)
    if head == SQLITE_HEADER:
        return "sqlite"
    if head.startswith(PG_DUMP_HEADER):
        return "pg_dump"
    return "unknown"


def _kind_words(kind: str) -> str:
    return {"sqlite": "a SQLite file", "pg_dump": "a pg_dump archive"}.get(kind, "not a Tocsin backup")


def _refuse_unless_empty(engine: sa.Engine) -> None:
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            counts = {name: connection.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                      for name in DATA_TABLES if name in tables}
    except sa.exc.OperationalError as error:
        raise BackupError(f"The database cannot be reached: {type(error.orig).__name__}.") from None
    held = {name: count for name, count in counts.items() if count}
    if held:
        words = ", ".join(f"{count} {name} row(s)" for name, count in held.items())
        raise BackupError(f"The database is not empty ({words}): restore only into an empty database "
                          "(a new SQLite file or a new PostgreSQL database), so nothing is overwritten.")


def _refuse_without_tocsin_tables(source: Path) -> None:
    try:
        with _sqlite(source, read_only=True) as reader:
            tables = {row[0] for row in reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        raise BackupError(f"{source} cannot be read as a SQLite database.") from None
    if "alembic_version" not in tables or "workspace" not in tables:
        raise BackupError(f"{source} is a SQLite file but not a Tocsin database (it has no Tocsin tables).")


def _drop_empty_tables(engine: sa.Engine) -> None:
    """A database made by `flask db upgrade` has Tocsin's tables, empty: make room for the
    dump's own (checked empty just before)."""
    with engine.begin() as connection:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)
        for function in connection.scalars(sa.text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() AND p.prokind = 'f'")):
            connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {function} CASCADE"))


def _after_restore(app: Flask, engine: sa.Engine) -> tuple[list[str], bool]:
    """The restored revision (and whether `flask db upgrade` is needed), and whether the
    configured keys read the restored endpoints."""
    lines, warning = [], False
    _, fernet = health_check.configured_keys(app.config.get("TOCSIN_ENCRYPTION_KEY") or "", app.config.get("SECRET_KEY"))
    with engine.connect() as connection:
        lines.append(health_check.migration_finding(app, connection, set(sa.inspect(connection).get_table_names()))
                     .sentence)
        checked, unreadable = health_check.unreadable_endpoints(connection, fernet)
    if unreadable:
        warning = True
        lines.append(f"WARNING: {len(unreadable)} of {checked} restored endpoint(s) store a URL, secret or header "
                     "that the configured keys do not decrypt: set SECRET_KEY and TOCSIN_ENCRYPTION_KEY to the "
                     "values of the Tocsin that made the backup.")
    else:
        lines.append(f"The configured keys decrypt every restored endpoint ({checked}).")
    return lines, warning


# --- pg_dump / pg_restore -------------------------------------------------------------------------

def _conninfo(url) -> str:
    """A libpq connection string without the password (that goes in PGPASSWORD)."""
    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    parts.update({key: value for key, value in url.query.items() if isinstance(value, str)})
    return " ".join(f"{key}='{_quoted(str(value))}'" for key, value in parts.items() if value)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _run_pg_tool(tool: str, arguments: list[str], url, *, with_dbname: bool = True) -> None:
    program = shutil.which(tool)
    if program is None:
        raise BackupError(f"{tool} is not installed: install PostgreSQL's client programs "
                          "(Debian: apt-get install postgresql-client), of the server's major version or newer.")
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
    command = [program, *arguments] + ([f"--dbname={_conninfo(url)}"] if with_dbname else [])
    try:
        finished = subprocess.run(command, env=environment, capture_output=True, text=True,
                                  timeout=PG_TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{tool} did not finish within {PG_TOOL_TIMEOUT_SECONDS} s.") from None
    if finished.returncode != 0:
        said = (finished.stderr or finished.stdout).strip().splitlines()
        detail = said[-1] if said else f"exit code {finished.returncode}"
        if url.password:
            detail = detail.replace(url.password, "***")
        raise BackupError(f"{tool} failed: {detail}")
