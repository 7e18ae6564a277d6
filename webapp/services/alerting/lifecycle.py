"""The alert lifecycle: firing → resolved (automatically on the job's next success, or by a
person), acknowledgement as a flag on a firing alert, and repeats while it fires.

Every change is written in the caller's transaction (flush, never commit), with the deliveries
it calls for, so they become visible together and sending starts after that commit.
"""
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from webapp.extensions import db
from webapp.models import Alert
from webapp.timeutil import utcnow

# Which firing alerts of a job a finished run resolves: a success ends a failure, a timeout or
# a missed run; a run under the threshold ends a slow-run alert.
RESOLVED_BY_SUCCESS = ("run_failed", "consecutive_failures", "run_timed_out", "run_missed",
                       "run_verification_failed")
RESOLVED_BY_A_FAST_RUN = ("run_slow",)


def resolve_firing(workspace_id: int, job_id: int, types: tuple[str, ...], *, rule_id: int | None = None,
                   resolved_by_id: int | None = None, now: datetime | None = None) -> list[int]:
    """Resolve every firing alert of this job (and rule, when given) of these types. Returns the
    ids of the new deliveries this calls for (`alert.resolved` to the endpoints of rules with
    `notify_on_resolve`), for the caller to hand to the send pool after its commit.
    `resolved_by_id` None means automatic."""
    now = now or utcnow()
    conditions = [Alert.workspace_id == workspace_id, Alert.job_id == job_id, Alert.state == "firing",
                  Alert.type.in_(types)]
    if rule_id is not None:
        conditions.append(Alert.rule_id == rule_id)
    resolved = db.session.execute(
        sa.update(Alert).where(*conditions)
        .values(state="resolved", resolved_at=now, resolved_by_id=resolved_by_id, next_repeat_at=None)
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return [] if resolved else []  # the lifecycle work adds the alert.resolved deliveries here


def sweep_repeats(app: Flask) -> int:
    """Queue `alert.repeated` for firing, unacknowledged alerts whose `next_repeat_at` has come
    (the lifecycle work fills this in); returns how many."""
    return 0
