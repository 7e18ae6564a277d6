"""A job's status as users of Healthchecks know it, computed in one place for pages and API.

- `paused`: paused (no runs are expected, nothing alerts).
- `down`: its last finished run failed, verification failed or timed out; or, when scheduled,
  the first slot after its last report (or after its creation, before any run) plus grace has
  passed. It stays down after the missed-run sweep moved `expected_at` on, until a report.
- `late`: scheduled, and that slot has passed but its grace has not.
- `new`: no run yet; `up`: otherwise.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from croniter import CroniterError

from webapp.models import FAILED_STATUSES, Job, Run
from webapp.services.alerting import job_runs
from webapp.services.alerting.schedules import next_expected
from webapp.timeutil import utcnow

# Down and late jobs first on the Jobs page; the others keep their order.
STATUS_RANK = {"down": 0, "late": 1}


def last_report_at(runs: list[Run]) -> datetime | None:
    """When the job last reported: a run's first report or its finish, whichever is latest."""
    moments = [moment for run in runs for moment in (run.created_at, run.finished_at) if moment is not None]
    return max(moments, default=None)


def _last_finished(runs: list[Run], now: datetime) -> tuple[Run | None, str | None]:
    for run in reversed(runs):
        state = job_runs.run_state(run, now)
        if state != "running":
            return run, state
    return None, None


def job_status(job: Job, runs: list[Run], now: datetime | None = None) -> str:
    """The status of `job` given its recent runs (oldest first, as `job_runs.recent_runs` gives)."""
    now = now or utcnow()
    if job.is_paused:
        return "paused"
    last_finished, state = _last_finished(runs, now)
    failed = last_finished is not None and (state == "timed out" or last_finished.status in FAILED_STATUSES)
    if failed:
        return "down"
    if job.schedule:
        try:
            slot = next_expected(job.schedule, last_report_at(runs) or job.created_at)
        except (CroniterError, KeyError, LookupError):
            slot = job.expected_at  # a schedule no longer readable: trust the stored moments
        grace = timedelta(seconds=job.grace_seconds or 0)
        if (slot is not None and slot + grace <= now) or (job.missing_after is not None and job.missing_after <= now):
            return "down"
        if (slot is not None and slot <= now) or (job.expected_at is not None and job.expected_at <= now):
            return "late"
    return "up" if runs else "new"


def next_expected_at(job: Job) -> datetime | None:
    """The next expected start shown to people: none while paused or unscheduled."""
    return None if job.is_paused or not job.schedule else job.expected_at


def attention_rank(now: datetime) -> sa.ColumnElement:
    """`STATUS_RANK` as SQL (0 down, 1 late, 2 the rest), so the Jobs list can put down and late
    jobs first across all its pages, not only within one. It reads the moments the scheduler
    keeps (`expected_at`, `missing_after`) and the newest finished run, found through the
    (job_id, started_at) index walking back only past open runs."""
    finished = sa.or_(Run.status != "running", Run.timed_out_at.is_not(None), Run.deadline_at <= now)
    last_failed = (sa.select(sa.case((Run.status == "running", 1), (Run.status.in_(FAILED_STATUSES), 1), else_=0))
                   .where(Run.job_id == Job.id, finished)
                   .order_by(Run.started_at.desc(), Run.id.desc()).limit(1).scalar_subquery())
    return sa.case(
        (Job.is_paused, 2),
        (last_failed == 1, STATUS_RANK["down"]),
        (Job.missing_after <= now, STATUS_RANK["down"]),
        (Job.expected_at <= now, STATUS_RANK["late"]),
        else_=2,
    )
