"""Runs reported by jobs through the API: validation, idempotent creation and finishing.

Most reports write one row (a new run of a known job that no rule can match): that INSERT and
the reads before it run on the request's autocommit connection (on PostgreSQL outside any
transaction, and the reads come from the API cache, so the INSERT is the report's only
statement). Every other report writes in the session's transaction, which the view commits
before it hands the returned delivery ids to the dispatcher, so sending starts only once the
run, its alerts and deliveries are durable. Alert raising runs inside a savepoint: a bug in a
rule must never lose the run a job reported.
"""
import json
import logging
import re
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from webapp.database import autocommit_connection
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import RUN_STATUSES, Job, Run
from webapp.services import api_cache, audit, matcher, metrics
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

REPORT_FIELDS = {"job", "external_id", "deadline_seconds", "deadline_at", "status", "duration_ms",
                 "message", "metadata"}
FINISH_FIELDS = {"status", "duration_ms", "message"}
FINISHED_STATUSES = ("succeeded", "failed")
# Slugs are stored lower-case so `Nightly-Report` and `nightly-report` are one job and rule
# globs (matched case-sensitively) only ever need lower-case patterns.
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
SLUG_RULE = ("Must be 1–100 characters: letters, digits, '.', '_' or '-', starting with a letter or "
             "digit (stored lower-case).")
MAX_DEADLINE_SECONDS = 7 * 24 * 3600
MAX_DURATION_MS = 366 * 24 * 3600 * 1000
MAX_MESSAGE_CHARS = 2000
MAX_METADATA_BYTES = 8 * 1024
MAX_EXTERNAL_ID_CHARS = 200


class JobRef(NamedTuple):
    """What a run report needs of its job, read as a plain row (no ORM object per report)."""
    id: int
    slug: str
    default_deadline_seconds: int | None


class Reported(NamedTuple):
    """A run report's result: `created` is False when the same `(job, external_id)` was reported
    before (`run` is then that stored run). A new run no rule can match is never added to the
    session (the ORM's bookkeeping for it would be a fifth of a report's CPU): read its columns
    and `job_slug`, not its relationships."""
    run: Run
    created: bool
    delivery_ids: list[int]
    job_slug: str


def report_run(workspace_id: int, data: dict, *, user_id: int | None = None,
               client_ip: str | None = None) -> Reported:
    """Store a reported run, creating its job on first report, and raise its alerts."""
    clean = _validate_report(data)
    slug = clean["job"]
    connection = autocommit_connection()
    job = api_cache.cached(("job", workspace_id, slug), lambda: _job_by_slug(connection, workspace_id, slug))
    job_created = job is None
    if job_created:
        job = _create_job(workspace_id, slug, user_id, client_ip)

    now = utcnow()
    status = clean.get("status", "running")
    duration_ms = clean.get("duration_ms")
    started_at = now - timedelta(milliseconds=duration_ms) if duration_ms else now
    run = Run(workspace_id=workspace_id, job_id=job.id, external_id=clean.get("external_id"), status=status,
              started_at=started_at, deadline_at=_deadline(clean, job, started_at),
              message=clean.get("message"), run_metadata=clean.get("metadata"), created_at=now,
              finished_at=None, duration_ms=None, timed_out_at=None)  # every column set: none reloads
    if status in FINISHED_STATUSES:
        run.finished_at = now
        run.duration_ms = duration_ms if duration_ms is not None else 0
    # Read before writing: most finished runs match no rule, and then the run is the only row
    # written, by one INSERT on the autocommit connection (no BEGIN, no COMMIT, no savepoint).
    has_rules = matcher.any_rule_for_job(connection, workspace_id, job.slug, matcher.finished_events(status))
    alone = not (job_created or has_rules)
    if (existing := _insert_run(run, job.id, connection if alone else db.session.connection())) is not None:
        return Reported(existing, False, [], job.slug)
    delivery_ids = []
    if has_rules:
        run.job = db.session.get(Job, job.id)  # from the identity map when this report created it
        make_transient_to_detached(run)  # persistent as loaded, without a SELECT
        db.session.add(run)
        delivery_ids = _match(matcher.on_run_finished, run)
    metrics.record_run_ingested("report")
    return Reported(run, True, delivery_ids, job.slug)


def finish_run(run: Run, data: dict) -> list[int]:
    """Record a run's outcome once; a run the deadline sweep marked as timed out may still
    finish (its late outcome is kept, and its timeout alert stays)."""
    clean = _validate_finish(data)
    now = utcnow()
    duration_ms = clean.get("duration_ms")
    if duration_ms is None:
        duration_ms = max(0, int((now - run.started_at).total_seconds() * 1000))
    values = {"status": clean["status"], "finished_at": now, "duration_ms": duration_ms}
    if clean.get("message") is not None:
        values["message"] = clean["message"]
    # Conditional update: of two concurrent finishes exactly one wins, the other gets 409.
    result = db.session.execute(
        sa.update(Run).where(Run.id == run.id, Run.status == "running").values(**values)
        .execution_options(synchronize_session=False))
    db.session.refresh(run)
    if result.rowcount != 1:
        raise ApiError(409, "conflict", f"Run {run.id} already finished: it {run.status} at "
                                        f"{run.finished_at:%Y-%m-%d %H:%M:%S} UTC.")
    metrics.record_run_ingested("finish")
    return _match(matcher.on_run_finished, run)


def _match(hook, run: Run) -> list[int]:
    """Call the matcher in a savepoint: on error its rows vanish, the run stays, the error is logged."""
    try:
        with db.session.begin_nested():
            return list(hook(run))
    except Exception:
        log.exception("raising alerts for run %s of job %s failed; the run is stored without alerts",
                      run.id, run.job.slug if run.job else "?")
        return []


def _insert_run(run: Run, job_id: int, connection: Connection) -> Run | None:
    """Insert the new run with one Core INSERT (no unit of work: a quarter of a report's CPU)
    and set its id; if the job already has a run with this external id (a retried report, even
    a concurrent one), insert nothing and return that run instead.

    `connection` is `autocommit_connection()` when the run is the report's only write (it
    commits alone, or on SQLite with the view's commit), else the session's connection, whose
    transaction the view commits. ON CONFLICT DO NOTHING makes a repeated external id no error,
    so neither transaction needs a savepoint or a rollback for it."""
    values = {column.key: getattr(run, attribute) for attribute, column in _RUN_COLUMNS}
    run_id = connection.execute(_INSERT_RUN[connection.dialect.name], values).scalar()
    if run_id is None:
        return _run_by_external_id(job_id, run.external_id)
    run.id = run_id
    return None


def _insert_run_statement(insert):
    return insert(Run).on_conflict_do_nothing(index_elements=["job_id", "external_id"]).returning(Run.id)


# Built once (each report runs one of them): building a statement costs more than running it.
_INSERT_RUN = {"postgresql": _insert_run_statement(postgresql.insert), "sqlite": _insert_run_statement(sqlite.insert)}
_RUN_COLUMNS = [(attribute.key, attribute.columns[0]) for attribute in sa.inspect(Run).column_attrs
                if attribute.key != "id"]
_JOB_BY_SLUG = sa.select(Job.id, Job.slug, Job.default_deadline_seconds).where(
    Job.workspace_id == sa.bindparam("workspace_id"), Job.slug == sa.bindparam("slug"))


def _create_job(workspace_id: int, slug: str, user_id: int | None, client_ip: str | None) -> JobRef:
    """The job of a first report, with its audit event; a concurrent first report may win."""
    try:
        with db.session.begin_nested():
            job = Job(workspace_id=workspace_id, slug=slug, name=slug)
            db.session.add(job)
    except IntegrityError:
        job = _job_by_slug(db.session.connection(), workspace_id, slug)  # created by a concurrent first report
        if job is None:
            raise
        return job
    audit.record(workspace_id=workspace_id, user_id=user_id, action="job.create", object_type="job",
                 object_id=job.id, summary=f"Job {slug} created by its first run report", client_ip=client_ip)
    return JobRef(job.id, job.slug, job.default_deadline_seconds)


def _job_by_slug(connection: Connection, workspace_id: int, slug: str) -> JobRef | None:
    row = connection.execute(_JOB_BY_SLUG, {"workspace_id": workspace_id, "slug": slug}).first()
    return JobRef(*row) if row is not None else None


def _run_by_external_id(job_id: int, external_id: str) -> Run | None:
    return db.session.scalar(sa.select(Run).where(Run.job_id == job_id, Run.external_id == external_id))


def _deadline(clean: dict, job: JobRef, started_at: datetime) -> datetime | None:
    if "deadline_at" in clean:
        return clean["deadline_at"]
    seconds = clean.get("deadline_seconds", job.default_deadline_seconds)
    return started_at + timedelta(seconds=seconds) if seconds else None


# --- validation: every problem is reported at once, per field ---------------------------------

def _validate_report(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict = {}
    job = data.get("job")
    if job is None:
        errors["job"] = "Required: the job's slug, for example \"nightly-report\"."
    elif not isinstance(job, str) or not job.isascii() or not SLUG_PATTERN.fullmatch(job.lower()):
        errors["job"] = SLUG_RULE
    else:
        clean["job"] = job.lower()
    _choice(data, "status", RUN_STATUSES, clean, errors)
    _text(data, "external_id", MAX_EXTERNAL_ID_CHARS, clean, errors, allow_empty=False)
    _text(data, "message", MAX_MESSAGE_CHARS, clean, errors)
    _whole_number(data, "duration_ms", 0, MAX_DURATION_MS, clean, errors)
    if "duration_ms" in clean and clean.get("status", "running") == "running":
        errors["duration_ms"] = "Only for a finished run: send it with status \"succeeded\" or \"failed\"."
    _metadata(data, clean, errors)
    if data.get("deadline_seconds") is not None and data.get("deadline_at") is not None:
        errors["deadline_at"] = "Give deadline_seconds or deadline_at, not both."
    else:
        _whole_number(data, "deadline_seconds", 1, MAX_DEADLINE_SECONDS, clean, errors)
        _deadline_at(data, clean, errors)
    if errors:
        raise ApiError(400, "validation_error", "The run report is not valid.", errors)
    return clean


def _validate_finish(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict = {}
    if data.get("status") is None:
        errors["status"] = "Required: \"succeeded\" or \"failed\"."
    else:
        _choice(data, "status", FINISHED_STATUSES, clean, errors)
    _whole_number(data, "duration_ms", 0, MAX_DURATION_MS, clean, errors)
    _text(data, "message", MAX_MESSAGE_CHARS, clean, errors)
    if errors:
        raise ApiError(400, "validation_error", "The finish report is not valid.", errors)
    return clean


def _choice(data, name, choices, clean, errors) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str) or value not in choices:
        errors[name] = "Must be one of: " + ", ".join(f'"{choice}"' for choice in choices) + "."
    else:
        clean[name] = value


def _text(data, name, max_chars, clean, errors, allow_empty=True) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        errors[name] = "Must be a string."
    elif len(value) > max_chars or (not allow_empty and not value):
        errors[name] = f"Must be {'1–' if not allow_empty else 'at most '}{max_chars} characters."
    else:
        clean[name] = value


def _whole_number(data, name, low, high, clean, errors) -> None:
    value = data.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = "Must be a whole number."
    elif not low <= value <= high:
        errors[name] = f"Must be between {low} and {high}."
    else:
        clean[name] = value


def _metadata(data, clean, errors) -> None:
    value = data.get("metadata")
    if value is None:
        return
    if not isinstance(value, dict):
        errors["metadata"] = "Must be a JSON object."
        return
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        errors["metadata"] = "Must be plain JSON (no NaN or Infinity)."
        return
    if size > MAX_METADATA_BYTES:
        errors["metadata"] = f"Must be at most {MAX_METADATA_BYTES} bytes as JSON (it is {size})."
    else:
        clean["metadata"] = value


def _deadline_at(data, clean, errors) -> None:
    value = data.get("deadline_at")
    if value is None:
        return
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        errors["deadline_at"] = "Must be an ISO 8601 time with a zone, for example \"2026-11-24T09:00:00Z\"."
        return
    now = utcnow()
    if moment <= now:
        errors["deadline_at"] = "Must be in the future."
    elif moment > now + timedelta(seconds=MAX_DEADLINE_SECONDS):
        errors["deadline_at"] = "Must be at most 7 days from now."
    else:
        clean["deadline_at"] = moment
