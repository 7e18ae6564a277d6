"""The deadline sweep: runs still `running` after their deadline are timed out exactly once.

Any number of sweepers (threads, processes, hosts) may run at once. The due runs are taken a
batch at a time with one guarded UPDATE (`… WHERE id IN (batch) AND status = 'running' AND
timed_out_at IS NULL RETURNING id`, read through the primary key; deadlines never move once a
run is written): a row another sweeper (or a finish) changed first no longer matches, so each run is returned to exactly one sweeper, and only that sweeper raises
its `run_timed_out` alerts — in the same transaction, one commit per batch. The rules are read
once per batch, and each run's alerts are raised in a savepoint, so one failing run never
loses the others' timeouts or alerts.

`sweep_missed_runs` does the same for scheduled jobs' missed slots (`missed_runs`).
"""
import logging
import time
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from webapp import wakeups
from webapp.extensions import db
from webapp.models import Run
from webapp.services import metrics
from webapp.services.alerting import missed_runs, raising
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
TIMEOUT_EVENTS = ("run_timed_out",)
# Spelled as literals (not bound parameters) so SQLite can match the partial index
# ix_run_open_deadline, whose WHERE clause is exactly this; its cost follows the due runs only.
OPEN_RUN = sa.and_(
    Run.status == sa.literal_column("'running'"),
    Run.timed_out_at.is_(None),
    Run.deadline_at.is_not(None),
)


def due_runs_query(now: datetime, limit: int = SWEEP_BATCH, *, since: datetime | None = None) -> sa.Select:
    """(id, deadline_at) of open runs whose deadline has passed, oldest deadline first; from
    deadline `since` on when given (the last batch's), so a sweep of many batches does not
    re-read the index entries it just took (on PostgreSQL they stay until vacuumed)."""
    statement = sa.select(Run.id, Run.deadline_at).where(OPEN_RUN, Run.deadline_at <= now)
    if since is not None:
        statement = statement.where(Run.deadline_at >= since)
    return statement.order_by(Run.deadline_at).limit(limit)


def sweep_deadlines(app: Flask) -> int:
    """Time out every overdue run this sweeper wins; returns how many it timed out."""
    started, timed_out, since = time.perf_counter(), 0, None
    try:
        while True:
            now = utcnow()
            due = db.session.execute(due_runs_query(now, since=since)).all()
            if not due:
                db.session.rollback()  # end the read
                return timed_out
            # The guarded UPDATE follows in the same transaction: the read took no locks, and
            # the guard, not the read, decides which runs this sweeper wins.
            won, delivery_ids = time_out_batch([row.id for row in due], now)
            timed_out += len(won)
            if delivery_ids:
                pool.send_after_commit(app, delivery_ids)  # after the commit, as for any new delivery
            if len(due) < SWEEP_BATCH:
                return timed_out
            since = due[-1].deadline_at
    finally:
        metrics.record_sweep(time.perf_counter() - started)


def time_out_batch(run_ids: list[int], now: datetime) -> tuple[list[int], list[int]]:
    """Mark the runs of `run_ids` (found due) that are still open as timed out and raise their
    alerts, in one transaction; (the runs this call won, their new delivery ids). Runs another
    sweeper or a finish took first are left out."""
    won = db.session.execute(
        sa.update(Run)
        .where(Run.id.in_(run_ids), Run.status == "running", Run.timed_out_at.is_(None))
        .values(timed_out_at=now)
        .returning(Run.id, Run.workspace_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not won:
        db.session.rollback()
        return [], []
    delivery_ids = _raise_timeout_alerts({run_id: workspace_id for run_id, workspace_id in won})
    db.session.commit()
    return [run_id for run_id, _ in won], delivery_ids


def _raise_timeout_alerts(workspaces: dict[int, int]) -> list[int]:
    """The `run_timed_out` alerts of the runs this sweeper just won ({run id: workspace id});
    never raises. The rules are read once for the batch, and only runs of workspaces with an
    active timeout rule are loaded: a batch without any costs one query."""
    try:
        with db.session.begin_nested():  # a failed read must not abort the batch's transaction
            rules = raising.active_rules(set(workspaces.values()), TIMEOUT_EVENTS)
            wanted = [run_id for run_id, workspace_id in workspaces.items() if workspace_id in rules]
            runs = db.session.scalars(
                sa.select(Run).where(Run.id.in_(wanted)).order_by(Run.id)
                .execution_options(populate_existing=True)
            ).unique().all() if wanted else []
    except Exception:
        log.exception("runs %s timed out but reading their timeout rules failed", sorted(workspaces))
        return []
    delivery_ids: list[int] = []
    for run in runs:
        try:
            with db.session.begin_nested():  # an error raising alerts must not undo this or other timeouts
                delivery_ids += raising.raise_alerts(run, TIMEOUT_EVENTS, rules[run.workspace_id])
        except Exception:
            log.exception("run %s timed out but raising its alerts failed", run.id)
    return delivery_ids


def sweep_missed_runs(app: Flask) -> int:
    """Raise `run_missed` once per missed slot of a scheduled job, exactly once across sweepers
    (`missed_runs`); returns how many slots this sweeper won."""
    won_total = 0
    while True:
        due, won, delivery_ids, next_missing = missed_runs.sweep_batch(utcnow())
        won_total += won
        if delivery_ids:
            pool.send_after_commit(app, delivery_ids)  # after the batch's commit
        wakeups.wake_at(next_missing)
        if due < missed_runs.SWEEP_BATCH:
            return won_total
