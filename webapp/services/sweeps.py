"""The deadline sweep: runs still `running` after their deadline are timed out exactly once.

Any number of sweepers (threads, processes, hosts) may run at once: each due run is taken with
one conditional UPDATE (`… WHERE id = ? AND timed_out_at IS NULL`), so only one sweeper wins
it, and only the winner raises the `run_timed_out` alerts — in that same transaction.
"""
import logging
import time
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from webapp.extensions import db
from webapp.models import Run
from webapp.services import dispatch, matcher, metrics
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
# Spelled as literals (not bound parameters) so SQLite can match the partial index
# ix_run_open_deadline, whose WHERE clause is exactly this; its cost follows the due runs only.
OPEN_RUN = sa.and_(
    Run.status == sa.literal_column("'running'"),
    Run.timed_out_at.is_(None),
    Run.deadline_at.is_not(None),
)


def due_runs_query(now: datetime, limit: int = SWEEP_BATCH) -> sa.Select:
    """Open runs whose deadline has passed, oldest deadline first."""
    return sa.select(Run.id).where(OPEN_RUN, Run.deadline_at <= now).order_by(Run.deadline_at).limit(limit)


def sweep_deadlines(app: Flask) -> int:
    """Time out every overdue run this sweeper wins; returns how many it timed out."""
    started, timed_out = time.perf_counter(), 0
    while True:
        now = utcnow()
        run_ids = list(db.session.scalars(due_runs_query(now)))
        db.session.rollback()  # end the read; each run gets its own short write transaction
        for run_id in run_ids:
            delivery_ids = time_out(run_id, now)
            if delivery_ids is not None:
                timed_out += 1
                dispatch.submit(app, delivery_ids)  # after the commit, as for any new delivery
        if len(run_ids) < SWEEP_BATCH:
            metrics.record_sweep(time.perf_counter() - started)
            return timed_out


def time_out(run_id: int, now: datetime) -> list[int] | None:
    """Mark one run timed out and raise its alerts; None when another sweeper (or a finish) won."""
    won = db.session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status == "running", Run.timed_out_at.is_(None))
        .values(timed_out_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.session.rollback()
        return None
    run = db.session.get(Run, run_id, populate_existing=True)
    try:
        with db.session.begin_nested():  # a matcher error must not undo the timeout itself
            delivery_ids = matcher.on_run_timed_out(run)
    except Exception:
        log.exception("run %s timed out but raising its alerts failed", run_id)
        delivery_ids = []
    db.session.commit()
    return delivery_ids
