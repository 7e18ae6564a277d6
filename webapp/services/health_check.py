"""What `flask --app wsgi tocsin check` looks at: the mistakes that let an instance start but
leave it quietly broken — a schema behind the code, no scheduler, keys that cannot read what is
stored, a development SECRET_KEY. Each finding is one sentence with what to do, and never shows
a key, a secret or a URL (only counts and row ids)."""
import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask

from webapp.extensions import db
from webapp.services import crypto
from webapp.services.delivery.jobs import HEARTBEAT_STALE_AFTER
from webapp.timeutil import UTCDateTime, utcnow

MIN_SECRET_KEY_LENGTH = 32
# Values from tutorials, the test suite and placeholder habits, compared case-insensitively.
WELL_KNOWN_SECRET_KEYS = frozenset({
    "test-secret-key-not-for-production", "dev", "development", "secret", "secret-key", "secret_key",
    "secretkey", "changeme", "change-me", "change_me", "changethis", "please-change-me", "your-secret-key",
    "your_secret_key", "super-secret", "supersecret", "mysecret", "my-secret-key", "test", "testing", "x",
    "default", "password", "tocsin", "flask", "insecure", "not-secret", "notsecret", "abc123", "12345678",
})
DEVELOPMENT_KEY_FILE = "secret_key"
ENCRYPTED_COLUMNS = ("url_encrypted", "secret_encrypted", "previous_secret_encrypted", "routing_key_encrypted",
                     "access_token_encrypted")
UPGRADE_HINT = "back up, stop the web and worker processes, run `flask --app wsgi db upgrade`, start them again"


@dataclass(frozen=True)
class Finding:
    """One line of the report: `problem` findings make the command exit non-zero."""

    problem: bool
    sentence: str


def ok(sentence: str) -> Finding:
    return Finding(False, sentence)


def problem(sentence: str) -> Finding:
    return Finding(True, sentence)


def run_checks(app: Flask) -> list[Finding]:
    """Every check, in the order an operator would fix them (inside an app context). The
    development key is looked for in the app's instance folder (instance/, as config.py keeps it)."""
    findings = [secret_key_finding(app.config.get("SECRET_KEY"), Path(app.instance_path))]
    key_findings, fernet = configured_keys(app.config.get("TOCSIN_ENCRYPTION_KEY") or "", app.config.get("SECRET_KEY"))
    findings += key_findings
    try:
        with db.engine.connect() as connection:
            findings += database_findings(app, connection, fernet)
    except sa.exc.SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        findings.append(problem(f"The database does not answer ({type(cause).__name__}): "
                                "check DATABASE_URL and that the database server is running."))
    return findings


# --- SECRET_KEY ----------------------------------------------------------------------------------


def secret_key_finding(secret_key: str | None, instance_dir: Path) -> Finding:
    """A key that signs sessions must be the operator's own: not the file `make run` wrote, not a
    value anyone can guess, not short."""
    fix = ("set SECRET_KEY to a long random value of your own, e.g. from "
           "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` (docs/upgrading.md says how to "
           "keep endpoint secrets readable when it changes).")
    if not secret_key:
        return problem(f"SECRET_KEY is not set: {fix}")
    if secret_key == _development_key(instance_dir):
        return problem(f"SECRET_KEY is the development key `make run` generated into instance/secret_key: {fix}")
    if secret_key.strip().lower() in WELL_KNOWN_SECRET_KEYS:
        return problem(f"SECRET_KEY is a well-known placeholder or test value: {fix}")
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        return problem(f"SECRET_KEY is only {len(secret_key)} characters (at least {MIN_SECRET_KEY_LENGTH}): {fix}")
    return ok("SECRET_KEY is set and is not a development or well-known value.")


def _development_key(instance_dir: Path) -> str | None:
    try:
        return (instance_dir / DEVELOPMENT_KEY_FILE).read_text().strip() or None
    except (OSError, UnicodeError):
        return None


# --- encryption keys -----------------------------------------------------------------------------


def configured_keys(setting: str, secret_key: str | None) -> tuple[list[Finding], MultiFernet | None]:
    """Findings about TOCSIN_ENCRYPTION_KEY, and the keys that can decrypt (valid entries, then
    the key derived from SECRET_KEY, as webapp/services/crypto.py uses them)."""
    fernets, findings = [], []
    entries = [part.strip() for part in setting.split(",") if part.strip()]  # as crypto.parse_keys reads it
    for position, entry in enumerate(entries, start=1):
        try:
            fernets.append(Fernet(entry))
        except (ValueError, TypeError):
            findings.append(problem(
                f"TOCSIN_ENCRYPTION_KEY entry {position} of {len(entries)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes): replace it with the key it was meant to be, or make a "
                "new one with `python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
                "and list it first, keeping the old keys after it."))
    if not entries:
        findings.append(ok("TOCSIN_ENCRYPTION_KEY is empty: stored secrets use the key derived from SECRET_KEY."))
    elif not findings:
        findings.append(ok(f"TOCSIN_ENCRYPTION_KEY holds {len(entries)} valid Fernet key(s)."))
    if secret_key:
        fernets.append(Fernet(crypto.derive_key(secret_key)))
    return findings, (MultiFernet(fernets) if fernets else None)


def unreadable_endpoints(connection: sa.Connection, fernet: MultiFernet | None) -> tuple[int, list[int]]:
    """(endpoints checked, ids of those with a stored value that no configured key decrypts)."""
    present = {column["name"] for column in sa.inspect(connection).get_columns("endpoint")}
    columns = [name for name in ENCRYPTED_COLUMNS if name in present]
    table = sa.table("endpoint", sa.column("id"), sa.column("headers_encrypted", sa.JSON),
                     sa.column("deleted_at"), *(sa.column(name) for name in columns))
    query = sa.select(table.c.id, table.c.headers_encrypted, *(table.c[name] for name in columns)).order_by(table.c.id)
    if "deleted_at" in present:  # a deleted endpoint sends nothing: its secrets need not decrypt
        query = query.where(table.c.deleted_at.is_(None))
    rows = connection.execute(query).all()
    unreadable = []
    for row_id, headers, *tokens in rows:
        values = [token for token in tokens if token] + [token for token in (headers or {}).values() if token]
        if any(not _decrypts(fernet, token) for token in values):
            unreadable.append(row_id)
    return len(rows), unreadable


def _decrypts(fernet: MultiFernet | None, token: str) -> bool:
    if fernet is None or not isinstance(token, str):
        return False
    try:
        fernet.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, TypeError):
        return False
    return True


# --- the database: revision, scheduler, stored secrets -------------------------------------------


def database_findings(app: Flask, connection: sa.Connection, fernet: MultiFernet | None) -> list[Finding]:
    tables = set(sa.inspect(connection).get_table_names())
    findings = [migration_finding(app, connection, tables)]
    if "scheduler_heartbeat" in tables:
        findings.append(scheduler_finding(connection))
    if "endpoint" in tables:
        checked, unreadable = unreadable_endpoints(connection, fernet)
        if unreadable:
            shown = ", ".join(str(row_id) for row_id in unreadable[:20]) + (" …" if len(unreadable) > 20 else "")
            findings.append(problem(
                f"{len(unreadable)} of {checked} endpoint(s) (id {shown}) store a URL, secret or header that no "
                "configured key decrypts: put the key they were written with back into TOCSIN_ENCRYPTION_KEY "
                "(after the newest key), or restore the SECRET_KEY they were written under."))
        else:
            findings.append(ok(f"Every stored endpoint URL, secret and header decrypts ({checked} endpoint(s))."))
    return findings


def migration_finding(app: Flask, connection: sa.Connection, tables: set[str]) -> Finding:
    """Compare the database's revision with the newest one this code ships."""
    scripts = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    heads = set(scripts.get_heads())
    current = set(_migration_context(connection).get_current_heads()) if "alembic_version" in tables else set()
    head_text = ", ".join(sorted(heads))
    if not current and tables - {"alembic_version"}:
        return problem("The database has tables but no migration revision (made without `flask db upgrade`): "
                       "back it up, then `flask --app wsgi db stamp` the revision it matches, or start from "
                       "an empty database with `flask --app wsgi db upgrade`.")
    if not current:
        return problem("The database has no Tocsin tables yet (no migration applied): run "
                       "`flask --app wsgi db upgrade` before starting Tocsin.")
    current_text = ", ".join(sorted(current))
    if current == heads:
        return ok(f"The database schema is up to date (revision {head_text}).")
    known = {revision.revision for revision in scripts.walk_revisions()}
    if not current <= known:
        return problem(f"The database is at revision {current_text}, which this version of Tocsin does not know "
                       "(a newer Tocsin upgraded it): run that newer version, or restore the backup taken "
                       "before its upgrade.")
    return problem(f"The database is at revision {current_text} but this version of Tocsin needs {head_text} "
                   f"({_pending_count(scripts, head_text, current_text)} migration(s) pending): {UPGRADE_HINT} "
                   "(docs/upgrading.md).")


def _pending_count(scripts: ScriptDirectory, head: str, current: str) -> str:
    try:
        return str(sum(1 for _ in scripts.iterate_revisions(head, current)))
    except CommandError:  # several heads or branches: Alembic cannot count a single path
        return "some"


def _migration_context(connection: sa.Connection) -> MigrationContext:
    """Alembic's context, without its INFO lines ("Context impl …") in the report's output."""
    logger = logging.getLogger("alembic.runtime.migration")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(connection)
    finally:
        logger.setLevel(level)


def scheduler_finding(connection: sa.Connection) -> Finding:
    """Without a scheduler nothing retries, no deadline or missed run is noticed."""
    heartbeat = sa.table("scheduler_heartbeat", sa.column("host"), sa.column("last_beat_at", UTCDateTime))
    latest = connection.execute(sa.select(heartbeat.c.host, heartbeat.c.last_beat_at)
                                .order_by(heartbeat.c.last_beat_at.desc()).limit(1)).first()
    fix = ("start one with `flask --app wsgi tocsin worker` (or TOCSIN_SCHEDULER=on in one web process), "
           "else failed deliveries are never retried and missed runs never raise alerts.")
    if latest is None:
        return problem(f"No scheduler has ever run against this database: {fix}")
    age = (utcnow() - latest.last_beat_at).total_seconds()
    if age > HEARTBEAT_STALE_AFTER.total_seconds():
        return problem(f"No scheduler heartbeat in the last {int(HEARTBEAT_STALE_AFTER.total_seconds())} s "
                       f"(the last one, from host {latest.host}, was {_duration(age)} ago): {fix}")
    return ok(f"A scheduler is running (last heartbeat {int(age)} s ago, from host {latest.host}).")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"
