"""Jobs that teams run, and each run's reported outcome."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.checks import one_of
from webapp.timeutil import UTCDateTime, utcnow

# verification_failed: the run finished, but its own check of the result failed (it counts as a failure).
RUN_STATUSES = ("running", "succeeded", "failed", "verification_failed")
FAILED_STATUSES = ("failed", "verification_failed")
JOB_STATUSES = ("new", "up", "late", "down", "paused")
DEFAULT_GRACE_SECONDS = 300


class Job(db.Model):
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "slug"),
        # The missed-run sweep and the scheduler's wake-up read only scheduled, unpaused jobs
        # (`missing_after` is null otherwise): their cost follows what is due, not the table.
        sa.Index("ix_job_missing_after", "missing_after",
                 sqlite_where=sa.text("missing_after IS NOT NULL"),
                 postgresql_where=sa.text("missing_after IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200))
    default_deadline_seconds: Mapped[int | None] = mapped_column()
    # {"every_seconds": N} or {"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}; None: unscheduled.
    schedule: Mapped[dict | None] = mapped_column(sa.JSON)
    grace_seconds: Mapped[int] = mapped_column(default=DEFAULT_GRACE_SECONDS,
                                               server_default=str(DEFAULT_GRACE_SECONDS))
    is_paused: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The next expected start, and when that slot counts as missed (expected + grace). Both null
    # for an unscheduled or paused job.
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missing_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(db.Model):
    __table_args__ = (
        one_of("status", RUN_STATUSES),
        sa.UniqueConstraint("job_id", "external_id"),
        sa.Index("ix_run_job_id_started_at", "job_id", "started_at"),
        # The Jobs page's open runs of each job, however far back they started; partial, so
        # finished runs (nearly all) neither fill it nor cost an index write.
        sa.Index(
            "ix_run_open_job_id_status_started_at",
            "job_id",
            "status",  # makes it covering, so SQLite prefers it to (job_id, started_at) without statistics
            "started_at",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        ),
        sa.Index("ix_run_workspace_id_id", "workspace_id", "id"),
        # The deadline sweep reads only open runs: a partial index keeps its cost
        # proportional to the number of due runs, not to the size of the table.
        sa.Index(
            "ix_run_open_deadline",
            "deadline_at",
            sqlite_where=sa.text("status = 'running' AND timed_out_at IS NULL AND deadline_at IS NOT NULL"),
            postgresql_where=sa.text("status = 'running' AND timed_out_at IS NULL AND deadline_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(32), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timed_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    message: Mapped[str | None] = mapped_column(sa.String(2000))
    run_metadata: Mapped[dict | None] = mapped_column("metadata", sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[Job] = relationship(lazy="joined")
