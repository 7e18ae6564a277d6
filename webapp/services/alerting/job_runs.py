"""Queries behind the Jobs pages and `/api/v1/jobs`.

Callers pass jobs they already loaded through the workspace scope; these functions only read
rows of those jobs. Costs follow the page size, not the history: the run strip reads at most
`per_job` runs per job through the (job_id, started_at) index, in one statement per page, and
the open runs, however old, through the partial index of open runs.
"""
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import FAILED_STATUSES, Alert, Job, Run
from webapp.services.alerting.schedule_words import local_time
from webapp.timeutil import utcnow

STRIP_LENGTH = 20
OPEN_RUNS_SHOWN = 25  # per job on the Jobs page; beyond that it says how many more are open
# A literal, not a bound parameter, so SQLite matches the partial index of open runs.
OPEN = Run.status == sa.literal_column("'running'")


def run_state(run: Run, now: datetime | None = None) -> str:
    """What a person calls the run's state: succeeded, failed, verification failed, running, or
    timed out (still open past its deadline, whether or not the sweep has marked it yet)."""
    if run.status == "running" and (run.timed_out_at is not None
                                    or (run.deadline_at is not None and run.deadline_at <= (now or utcnow()))):
        return "timed out"
    return "verification failed" if run.status == "verification_failed" else run.status


def state_class(state: str) -> str:
    """The CSS class of a run state's badge or square: every failure is red."""
    return "failed" if state in ("timed out", "verification failed") else state


@dataclass
class JobSummary:
    """One row of the Jobs page."""

    job: Job
    recent: list[Run] = field(default_factory=list)  # oldest first, at most STRIP_LENGTH
    # Runs that have not reported an outcome, newest first, however far back they started
    # (at most OPEN_RUNS_SHOWN), and how many more are open.
    open_runs: list[Run] = field(default_factory=list)
    more_open_runs: int = 0

    @property
    def last_run(self) -> Run | None:
        return self.recent[-1] if self.recent else None

    @property
    def success_rate(self) -> int | None:
        """Percentage of succeeded runs among the recent finished ones (None when none finished)."""
        finished = [run for run in self.recent if run.status == "succeeded" or run.status in FAILED_STATUSES]
        if not finished:
            return None
        return round(100 * sum(run.status == "succeeded" for run in finished) / len(finished))


def summaries(jobs: list[Job], per_job: int = STRIP_LENGTH) -> list[JobSummary]:
    """The Jobs page rows for one page of jobs, with their recent runs, in one query."""
    job_ids = [job.id for job in jobs]
    recent = recent_runs(job_ids, per_job)
    shown = open_runs(job_ids)
    more = _open_run_counts([job_id for job_id, runs in shown.items() if len(runs) > OPEN_RUNS_SHOWN])
    return [JobSummary(job, recent.get(job.id, []), shown.get(job.id, [])[:OPEN_RUNS_SHOWN],
                       max(more.get(job.id, 0) - OPEN_RUNS_SHOWN, 0)) for job in jobs]


def open_runs(job_ids: list[int], per_job: int = OPEN_RUNS_SHOWN + 1) -> dict[int, list[Run]]:
    """Up to `per_job` open runs of each job, newest first, each job's branch a read of the
    partial index ix_run_open_job_id_status_started_at: a run stuck open long ago is found
    without reading the finished history around it."""
    return _runs_per_job(job_ids, per_job, (OPEN,), (Run.started_at.desc(),),
                         (Run.started_at.desc(), Run.id.desc()))


def _open_run_counts(job_ids: list[int]) -> dict[int, int]:
    """How many runs of each job are open (only asked for jobs with more than the page shows)."""
    if not job_ids:
        return {}
    rows = db.session.execute(sa.select(Run.job_id, sa.func.count()).where(
        Run.job_id.in_(job_ids), OPEN).group_by(Run.job_id))
    return {job_id: count for job_id, count in rows}


def recent_runs(job_ids: list[int], per_job: int = STRIP_LENGTH) -> dict[int, list[Run]]:
    """The last `per_job` runs of each job (oldest first).

    A window function (row_number over each job) would rank every run a job ever had; a
    LIMIT per job reads only the rows shown, however long the history grows.
    """
    return _runs_per_job(job_ids, per_job, (), (Run.started_at.desc(), Run.id.desc()), (Run.started_at, Run.id))


def _runs_per_job(job_ids: list[int], per_job: int, conditions: tuple, branch_order: tuple,
                  order: tuple) -> dict[int, list[Run]]:
    """Runs by job id: per job, the first `per_job` runs meeting `conditions` in `branch_order`,
    read as one UNION ALL of per-job index scans, then loaded in `order`."""
    if not job_ids:
        return {}
    branches = [
        sa.select(Run.id).where(Run.job_id == job_id, *conditions).order_by(*branch_order).limit(per_job).subquery()
        for job_id in job_ids
    ]
    wanted = sa.union_all(*[sa.select(branch.c.id) for branch in branches]).subquery()
    runs = db.session.scalars(sa.select(Run).where(Run.id.in_(sa.select(wanted.c.id))).order_by(*order)).all()
    grouped: dict[int, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.job_id, []).append(run)
    return grouped


def strip(job: Job, recent: list[Run], now: datetime) -> list[dict]:
    """The job page's strip, oldest first: its recent runs, the missed slots its `run_missed`
    alerts recorded among them, and the next expected slot (`kind`, `css`, `title` each)."""
    since = recent[0].started_at if len(recent) >= STRIP_LENGTH else None
    statement = sa.select(Alert).where(Alert.job_id == job.id, Alert.workspace_id == job.workspace_id,
                                       Alert.type == "run_missed")
    if since is not None:
        statement = statement.where(Alert.created_at >= since)
    missed = db.session.scalars(statement.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(STRIP_LENGTH))
    items = [(run.started_at, {"kind": "run", "css": state_class(run_state(run, now)),
                               "title": f"{run_state(run, now)} · started {run.started_at:%Y-%m-%d %H:%M:%S} UTC"})
             for run in recent]
    for alert in missed:
        slot = (alert.alert_metadata or {}).get("slot") or {}
        expected = datetime.fromisoformat(slot["expected_at"]) if slot.get("expected_at") else alert.created_at
        items.append((expected, {"kind": "missed", "css": "missed",
                                 "title": f"missed · expected {local_time(job.schedule or {}, expected, now)}"}))
    items.sort(key=lambda item: item[0])
    shown = [item for _, item in items[-STRIP_LENGTH:]]
    if job.schedule and not job.is_paused and job.expected_at is not None:
        shown.append({"kind": "expected", "css": "expected",
                      "title": f"next expected {local_time(job.schedule, job.expected_at, now)}"})
    return shown


def runs_of(job: Job) -> sa.Select:
    """A job's runs, newest first (for `db.paginate`)."""
    return (sa.select(Run).where(Run.job_id == job.id, Run.workspace_id == job.workspace_id)
            .order_by(Run.started_at.desc(), Run.id.desc()))


def alerts_of(job: Job, limit: int = 20) -> list[Alert]:
    """The newest alerts a job raised."""
    return list(db.session.scalars(
        sa.select(Alert).where(Alert.job_id == job.id, Alert.workspace_id == job.workspace_id)
        .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
    ))
