"""The missed-run sweep: a scheduled, unpaused job with no report by its expected time plus
grace raises `run_missed` once for that slot, however many sweepers run.

Due jobs are read through the partial index `ix_job_missing_after` (only scheduled, unpaused
jobs have a `missing_after`), so the cost follows what is due. Each is taken with a guarded
UPDATE (`WHERE id = ? AND missing_after = <the value read>`) that arms the next slot after
now: of any number of sweepers, and of a sweeper and a report moving the slot at once,
exactly one changes the row, and only the sweeper that did raises the alert, in the same
transaction. One commit per batch, then the deliveries go to the send pool.

Slots are counted from the sweep, not replayed: after the scheduler was down for a while, the
slots missed meanwhile make one alert, and the next slot is the first one after now.
"""
import logging
from datetime import datetime

import sqlalchemy as sa
from croniter import CroniterError

from webapp.extensions import db
from webapp.models import Job
from webapp.services.alerting import raising, schedules

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
MISSED_EVENTS = ("run_missed",)
# A literal, as in the index's WHERE clause, so SQLite matches the partial index.
ARMED = Job.missing_after.is_not(None)


def due_jobs_query(now: datetime, limit: int = SWEEP_BATCH) -> sa.Select:
    """Jobs whose slot passed its grace, the longest overdue first."""
    return (sa.select(Job.id, Job.missing_after).where(ARMED, Job.missing_after <= now)
            .order_by(Job.missing_after).limit(limit))


def sweep_batch(now: datetime) -> tuple[int, int, list[int], datetime | None]:
    """Take one batch of due jobs and raise their alerts in one transaction; returns (jobs due,
    slots this sweeper won, delivery ids, the earliest new missing moment)."""
    due = db.session.execute(due_jobs_query(now)).all()
    if not due:
        db.session.rollback()  # end the read
        return 0, 0, [], None
    won: list[raising.MissedSlot] = []
    armed: list[datetime] = []
    for job_id, missing_after in due:
        job = db.session.get(Job, job_id, populate_existing=True)
        if job is None or job.missing_after != missing_after:
            continue  # moved by a report or another sweeper since the read
        try:
            next_expected, next_missing = schedules.moments(job.schedule, job.grace_seconds, now) \
                if job.schedule and not job.is_paused else (None, None)
        except (CroniterError, LookupError, KeyError):
            log.exception("job %s has a schedule that cannot be read: %r; its slots are cleared", job.slug, job.schedule)
            next_expected, next_missing = None, None
        taken = db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.missing_after == missing_after)
            .values(expected_at=next_expected, missing_after=next_missing)
            .execution_options(synchronize_session=False)).rowcount
        if taken == 1 and job.schedule and not job.is_paused:
            won.append(raising.MissedSlot(job, job.expected_at, missing_after))
            if next_missing is not None:
                armed.append(next_missing)
    delivery_ids = _raise_missed_alerts(won)
    db.session.commit()
    return len(due), len(won), delivery_ids, min(armed, default=None)


def _raise_missed_alerts(slots: list[raising.MissedSlot]) -> list[int]:
    """The `run_missed` alerts of the slots just won, rules read once per batch; never raises."""
    if not slots:
        return []
    try:
        with db.session.begin_nested():
            rules = raising.active_rules({slot.workspace_id for slot in slots}, MISSED_EVENTS)
    except Exception:
        log.exception("slots of jobs %s were missed but reading their rules failed", [s.job.slug for s in slots])
        return []
    delivery_ids: list[int] = []
    for slot in slots:
        if slot.workspace_id not in rules:
            continue
        try:
            with db.session.begin_nested():  # one failing alert must not undo the batch's slots
                delivery_ids += raising.raise_missed(slot, rules[slot.workspace_id])
        except Exception:
            log.exception("job %s missed its slot but raising its alerts failed", slot.job.slug)
    return delivery_ids

