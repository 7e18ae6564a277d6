"""Jobs' life cycle beyond their first report: create one before it ever runs, change its name,
schedule, grace and pause, audited, shared by the job page and the JSON API (deleting one:
`job_deletion`).

Setting or changing a schedule (or unpausing) arms the next slot counted from now
(`expected_at`, `missing_after`); removing the schedule or pausing clears both, so the missed-run
sweep never looks at the job; a new grace moves only `missing_after` of the same slot. Each change commits here and then wakes the scheduler for the new
`missing_after` (a wake-up must follow the commit, or another process could read the old value).
"""
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp import validators, wakeups
from webapp.extensions import db
from webapp.models import Job
from webapp.services import audit
from webapp.services.alerting.report_validation import SLUG_PATTERN, SLUG_RULE
from webapp.services.alerting.schedule_words import schedule_words
from webapp.services.alerting.schedules import InvalidSchedule, moments, validate_grace, validate_schedule
from webapp.timeutil import utcnow

CREATE_FIELDS = {"slug", "name", "schedule", "grace_seconds", "is_paused"}
UPDATE_FIELDS = {"name", "schedule", "grace_seconds", "is_paused"}
MAX_NAME_CHARS = 200


class InvalidJob(ValueError):
    """Input refused, one message per field (`slug`, `schedule.cron`, …): 400 `validation_error`."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


class JobExists(Exception):
    """A job with this slug exists in the workspace (the API answers 409 `conflict`)."""


def _validate(data: dict, *, creating: bool) -> dict:
    """The given fields, cleaned; raises InvalidJob listing every bad one."""
    cleaned, errors = {}, {}
    if creating:
        slug = data.get("slug")
        if not isinstance(slug, str) or not slug.isascii() or not SLUG_PATTERN.fullmatch(slug.lower()):
            errors["slug"] = SLUG_RULE
        else:
            cleaned["slug"] = slug.lower()
    if "name" in data or creating:
        name = data.get("name")
        if name is None:
            if not creating:
                cleaned["name"] = None  # back to the slug (a new job defaults to it)
        elif not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_CHARS:
            errors["name"] = f"Must be 1–{MAX_NAME_CHARS} characters."
        elif problem := validators.text_problem(name):
            errors["name"] = f"The name {problem}."
        else:
            cleaned["name"] = name.strip()
    for key, check in (("schedule", validate_schedule), ("grace_seconds", validate_grace)):
        if key in data or creating:
            try:
                cleaned[key] = check(data.get(key))
            except InvalidSchedule as error:
                errors.update(error.fields)
    if "is_paused" in data:
        if not isinstance(data["is_paused"], bool):
            errors["is_paused"] = "Must be true or false."
        else:
            cleaned["is_paused"] = data["is_paused"]
    if errors:
        raise InvalidJob(errors)
    return cleaned


def clean(data: dict, *, creating: bool) -> dict:
    """The given fields, cleaned, without writing anything (configuration import); raises InvalidJob."""
    return _validate(data, creating=creating)


def arm(job: Job) -> None:
    """After a schedule, grace or pause change made outside `update_job`: the next slot from now."""
    _arm(job)


def _arm(job: Job) -> None:
    """Set the next slot from now, or clear it when unscheduled or paused."""
    job.expected_at, job.missing_after = (None, None) if job.is_paused else \
        moments(job.schedule, job.grace_seconds, utcnow())


def _commit_and_wake(job: Job) -> None:
    db.session.commit()
    if job.missing_after is not None:
        wakeups.wake_at(job.missing_after)


def create_job(workspace_id: int, data: dict, *, user_id: int | None = None, client_ip: str | None = None) -> Job:
    """A new job, before its first run; raises InvalidJob or JobExists. Commits."""
    cleaned = _validate(data, creating=True)
    job = Job(workspace_id=workspace_id, slug=cleaned["slug"], name=cleaned.get("name") or cleaned["slug"],
              schedule=cleaned["schedule"], grace_seconds=cleaned["grace_seconds"],
              is_paused=cleaned.get("is_paused", False))
    _arm(job)
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        db.session.rollback()
        raise JobExists(f"A job with the slug {cleaned['slug']!r} exists already.") from None
    audit.record(workspace_id=workspace_id, user_id=user_id, action="job.create", object_type="job",
                 object_id=job.id, summary=f"Job {job.slug} created ({schedule_words(job.schedule)})",
                 client_ip=client_ip)
    _commit_and_wake(job)
    return job


def update_job(job: Job, data: dict, *, user_id: int | None = None, client_ip: str | None = None) -> list[str]:
    """Change the given fields (`schedule: None` removes the schedule, `name: None` shows the slug); returns the names of the
    fields that changed (none: nothing written). Raises InvalidJob before changing anything. Commits."""
    cleaned = _validate(data, creating=False)
    if "name" in cleaned and cleaned["name"] is None:
        cleaned["name"] = job.slug
    changed = [name for name, value in cleaned.items() if getattr(job, name) != value]
    if not changed:
        return []
    changes = {name: audit.change(getattr(job, name), cleaned[name]) for name in changed}  # shown as old → new
    for name in changed:
        setattr(job, name, cleaned[name])
    if {"schedule", "is_paused"} & set(changed):
        _arm(job)
    elif "grace_seconds" in changed and job.expected_at is not None:
        job.missing_after = job.expected_at + timedelta(seconds=job.grace_seconds)  # the same slot
    words = ", ".join(_change_words(job, name) for name in changed)
    audit.record(workspace_id=job.workspace_id, user_id=user_id, action="job.update", object_type="job",
                 object_id=job.id, summary=f"Job {job.slug}: {words}", client_ip=client_ip,
                 changes=changes, object_name=job.name)
    _commit_and_wake(job)
    return changed


def _change_words(job: Job, name: str) -> str:
    if name == "schedule":
        return f"schedule {schedule_words(job.schedule)}"
    if name == "is_paused":
        return "paused" if job.is_paused else "unpaused"
    return f"{name.replace('_', ' ')} {getattr(job, name)}"


def job_by_slug(workspace_id: int, slug: str) -> Job | None:
    return db.session.scalar(sa.select(Job).where(Job.workspace_id == workspace_id, Job.slug == slug.lower()))
