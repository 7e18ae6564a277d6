"""Runs reported by jobs through the API: idempotent creation and finishing, committed here.

Most reports write one row (a new run of a known job that no rule can match): that INSERT and
the reads before it run on the request's autocommit connection (on PostgreSQL outside any
transaction, and the reads come from the API cache, so the INSERT is the report's only
statement). Every other report writes in the session's transaction, committed here before the
caller hands the returned delivery ids to the send pool, so sending starts only once the run,
its alerts and deliveries are durable. Alert raising runs inside a savepoint: a bug in a rule
must never lose the run a job reported.

A report of a scheduled, unpaused job (its schedule comes with the job row, so unscheduled jobs
pay nothing for this) moves the job's next slot on from now and resolves its firing
`run_missed` alerts, in the same transaction; after the commit the scheduler is woken for the
run's deadline and the job's new missing moment (`wakeups.wake_at`).
"""
import logging
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from croniter import CroniterError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from webapp import wakeups
from webapp.database import autocommit_connection, serialised_writes
from webapp.database_errors import is_database_unavailable
from webapp.extensions import db
from webapp.models import Job, Run
from webapp.services import api_cache, audit, metrics
from webapp.services.alerting import lifecycle, raising, schedules
from webapp.services.alerting.report_validation import FINISHED_STATUSES, validate_finish, validate_report
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

MISSED_EVENTS = ("run_missed",)  # what any report of a scheduled job resolves


class RunAlreadyFinished(Exception):
    """A finish report for a run that has finished already (the API answers 409 `conflict`)."""


class JobRef(NamedTuple):
    """What a run report needs of its job, read as a plain row (no ORM object per report). The
    schedule comes along, so an unscheduled job's report costs no statement more than before."""
    id: int
    slug: str
    default_deadline_seconds: int | None
    schedule: dict | None = None
    grace_seconds: int = 0
    is_paused: bool = False

    @property
    def expects_runs(self) -> bool:
        return self.schedule is not None and not self.is_paused


class Reported(NamedTuple):
    """A run report's result: `created` is False when the same `(job, external_id)` was reported
    before (`run` is then that stored run). A new run no rule can match is never added to the
    session (the ORM's bookkeeping for it would be a fifth of a report's CPU): read its columns
    and `job_slug`, not its relationships."""
    run: Run
    created: bool
    delivery_ids: list[int]
    job_slug: str
    missing_after: datetime | None = None  # the job's next missed-run moment, moved by this report


def report_run(workspace_id: int, data: dict, *, user_id: int | None = None,
               client_ip: str | None = None) -> Reported:
    """Store a reported run, creating its job on first report, raise its alerts and commit; the
    caller hands `delivery_ids` to the send pool. Raises InvalidReport for bad input."""
    clean = validate_report(data)
    with serialised_writes():  # on SQLite this process's threads queue here, not in the busy handler
        try:
            reported = _store_report(workspace_id, clean, user_id, client_ip)
        except IntegrityError:
            # The job was deleted between reading it (or its cached entry) and inserting the run:
            # the report creates it anew, as a first report does.
            db.session.rollback()
            api_cache.forget(("job", workspace_id, clean["job"]))
            reported = _store_report(workspace_id, clean, user_id, client_ip)
        db.session.commit()
    if reported.created:
        if reported.run.status == "running":
            wakeups.wake_at(reported.run.deadline_at)  # an earlier deadline wakes a scheduler at once
        wakeups.wake_at(reported.missing_after)
    return reported


def _store_report(workspace_id: int, clean: dict, user_id: int | None, client_ip: str | None) -> Reported:
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
        run.duration_ms = duration_ms  # None when the job did not say: unknown, not "0 ms"
    # Read before writing: most finished runs match no rule, and then the run is the only row
    # written, by one INSERT on the autocommit connection (no BEGIN, no COMMIT, no savepoint).
    has_rules = raising.any_rule_for_job(connection, workspace_id, job.slug, raising.events_for(status))
    alone = not (job_created or has_rules or job.expects_runs)
    if (existing := _insert_run(run, job.id, connection if alone else db.session.connection())) is not None:
        db.session.expunge(existing)  # as loaded: the commit must not expire what the caller shows
        return Reported(existing, False, [], job.slug)
    delivery_ids, missing_after = [], None
    if job.expects_runs:
        missing_after, delivery_ids = _expect_next_run(workspace_id, job, now)
    if has_rules:
        run.job = db.session.get(Job, job.id)  # from the identity map when this report created it
        make_transient_to_detached(run)  # persistent as loaded, without a SELECT
        db.session.add(run)
        delivery_ids += _raise_alerts(run)
        db.session.expunge(run)  # out again before the commit, which would expire it
    metrics.record_run_ingested("report")
    return Reported(run, True, delivery_ids, job.slug, missing_after)


def finish_run(run: Run, data: dict) -> list[int]:
    """Record a run's outcome once, raise its alerts and commit; returns the new delivery ids
    for the send pool. A run the deadline sweep marked as timed out may still finish (its late
    outcome is kept, and its timeout alert stays). Raises InvalidReport or RunAlreadyFinished."""
    clean = validate_finish(data)
    with serialised_writes():
        delivery_ids = _finish(run, clean)
        job = run.job
        missing_after = None
        if job.schedule is not None and not job.is_paused:
            missing_after, resolved = _expect_next_run(run.workspace_id, _job_ref(job), run.finished_at)
            delivery_ids += resolved
        db.session.commit()
    wakeups.wake_at(missing_after)
    return delivery_ids


def _finish(run: Run, clean: dict) -> list[int]:
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
        message = f"Run {run.id} already finished: it {run.status} at {run.finished_at:%Y-%m-%d %H:%M:%S} UTC."
        db.session.rollback()  # end the write transaction at once (SQLite holds its lock until then)
        raise RunAlreadyFinished(message)
    metrics.record_run_ingested("finish")
    return _raise_alerts(run)


def _expect_next_run(workspace_id: int, job: JobRef, now: datetime) -> tuple[datetime | None, list[int]]:
    """A scheduled job reported: its next slot counts from now, and its firing `run_missed`
    alerts resolve. Returns (the new missing moment, the resolution's delivery ids). The UPDATE
    is guarded, so a job paused a moment ago (the API cache not yet cleared) stays unarmed."""
    try:
        expected_at, missing_after = schedules.moments(job.schedule, job.grace_seconds, now)
    except (CroniterError, LookupError, KeyError):
        log.exception("job %s has a schedule that cannot be read: %r", job.slug, job.schedule)
        return None, []
    db.session.execute(
        sa.update(Job).where(Job.id == job.id, Job.is_paused.is_(False), Job.schedule.is_not(None))
        .values(expected_at=expected_at, missing_after=missing_after)
        .execution_options(synchronize_session=False))
    try:
        with db.session.begin_nested():
            return missing_after, list(lifecycle.resolve_firing(workspace_id, job.id, MISSED_EVENTS, now=now))
    except Exception as error:
        if is_database_unavailable(error):
            raise
        log.exception("resolving the run_missed alerts of job %s failed; the run is stored", job.slug)
        return missing_after, []


def _raise_alerts(run: Run) -> list[int]:
    """Raise the finished run's alerts in a savepoint: on a bug their rows vanish, the run stays,
    the error is logged. An unreachable database fails the whole report instead (the client is
    answered 503 and tries again), so a transient error never stores a run without its alerts."""
    try:
        with db.session.begin_nested():
            return list(raising.raise_alerts(run, raising.events_for(run.status)))
    except Exception as error:
        if is_database_unavailable(error):
            raise  # the report fails as a whole (503): a run stored without its alerts would lose them
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
_JOB_BY_SLUG = sa.select(Job.id, Job.slug, Job.default_deadline_seconds, Job.schedule, Job.grace_seconds,
                         Job.is_paused).where(
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
    return _job_ref(job)


def _job_ref(job: Job) -> JobRef:
    return JobRef(job.id, job.slug, job.default_deadline_seconds, job.schedule, job.grace_seconds, job.is_paused)


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
