"""Scheduler heartbeats: each scheduler process records that it is alive."""
import os
import socket
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import SchedulerHeartbeat
from webapp.timeutil import utcnow

STALE_AFTER = timedelta(seconds=60)
FORGET_AFTER = timedelta(days=1)  # rows of processes that stopped long ago


def beat(heartbeat_id: int | None) -> int:
    """Insert this process's row on the first beat, update it afterwards; returns the row id."""
    now = utcnow()
    if heartbeat_id is not None:
        updated = db.session.execute(
            sa.update(SchedulerHeartbeat).where(SchedulerHeartbeat.id == heartbeat_id).values(last_beat_at=now)
        ).rowcount
        if updated:
            db.session.commit()
            return heartbeat_id
    row = SchedulerHeartbeat(host=socket.gethostname()[:255], pid=os.getpid(), started_at=now, last_beat_at=now)
    db.session.add(row)
    db.session.commit()
    return row.id


def latest_beat():
    return db.session.scalar(
        sa.select(SchedulerHeartbeat.last_beat_at).order_by(SchedulerHeartbeat.last_beat_at.desc()).limit(1)
    )


def scheduler_age_seconds() -> float | None:
    """Seconds since any scheduler last beat, or None when none ever ran."""
    latest = latest_beat()
    if latest is None:
        return None
    return (utcnow() - latest).total_seconds()


def scheduler_banner_needed() -> bool:
    age = scheduler_age_seconds()
    return age is None or age > STALE_AFTER.total_seconds()


def prune_stale(older_than: timedelta = FORGET_AFTER) -> int:
    """Forget processes that have not beaten for a day (each restart adds a row)."""
    removed = db.session.execute(
        sa.delete(SchedulerHeartbeat).where(SchedulerHeartbeat.last_beat_at < utcnow() - older_than)
    ).rowcount
    db.session.commit()
    return removed
