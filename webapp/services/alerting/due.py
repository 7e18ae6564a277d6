"""When the alerting side next has work: the earliest open deadline, missed slot and repeat.

Each is the first entry of a partial index (`ix_run_open_deadline`, `ix_job_missing_after`,
`ix_alert_next_repeat_at`) read with ORDER BY … LIMIT 1, so the wake-up loop (webapp/wakeups.py)
pays one index probe per source whatever the size of the tables. The WHERE clauses repeat each
index's own predicate, spelled as literals, so SQLite can match the partial index.
"""
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, Job, Run
from webapp.services.alerting.sweeps import OPEN_RUN

NEXT_DEADLINE = sa.select(Run.deadline_at).where(OPEN_RUN).order_by(Run.deadline_at).limit(1)
NEXT_MISSED_SLOT = (sa.select(Job.missing_after).where(Job.missing_after.is_not(None))
                    .order_by(Job.missing_after).limit(1))
NEXT_REPEAT = (sa.select(Alert.next_repeat_at).where(Alert.next_repeat_at.is_not(None))
               .order_by(Alert.next_repeat_at).limit(1))


def next_deadline() -> datetime | None:
    """The earliest deadline of a run still open (None: no open run has one)."""
    return db.session.scalar(NEXT_DEADLINE)


def next_missed_slot() -> datetime | None:
    """The earliest moment a scheduled job's expected run counts as missed."""
    return db.session.scalar(NEXT_MISSED_SLOT)


def next_repeat() -> datetime | None:
    """The earliest `alert.repeated` due."""
    return db.session.scalar(NEXT_REPEAT)
