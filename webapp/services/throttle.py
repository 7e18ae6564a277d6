"""Throttling of log-ins and sign-ups, counted in the database so that every gunicorn worker and
every host behind the same database refuse the same attempts (an in-process counter would give
an attacker a fresh budget per worker).

A fixed window per key: `record` counts an attempt, `retry_after` says how long the keys stay
refused once one of them reached its limit. A successful log-in clears its account's count, not
the address's, so a guesser who also knows one password gains nothing.
"""
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.database import serialised_writes
from webapp.extensions import db
from webapp.models import AuthThrottle
from webapp.timeutil import utcnow


@dataclass(frozen=True)
class Limit:
    """At most `attempts` per `window` for one key of this kind."""

    kind: str
    attempts: int
    window: timedelta

    def key(self, value: str) -> str:
        return f"{self.kind}:{value}"


# Failed log-ins to one account (from anywhere) and from one client address (to any account);
# sign-ups from one client address, successful or not.
LOGIN_ACCOUNT = Limit("login-account", 10, timedelta(minutes=15))
LOGIN_ADDRESS = Limit("login-address", 50, timedelta(minutes=15))
SIGNUP_ADDRESS = Limit("signup-address", 10, timedelta(hours=1))
LIMITS = {limit.kind: limit for limit in (LOGIN_ACCOUNT, LOGIN_ADDRESS, SIGNUP_ADDRESS)}
FORGET_AFTER = timedelta(days=1)  # rows older than this are pruned with the delivery history


def account_key(email: str) -> str:
    """The account's key holds a hash of the address, so the table lists no emails."""
    return LOGIN_ACCOUNT.key(hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest())


def address_key(limit: Limit, address: str | None) -> str:
    return limit.key(address or "unknown")


def _limit_of(key: str) -> Limit:
    return LIMITS[key.split(":", 1)[0]]


def retry_after(keys: list[str], now: datetime | None = None) -> int | None:
    """Whole seconds until every key may try again, or None when none is at its limit."""
    now = now or utcnow()
    waits = []
    for row in db.session.scalars(sa.select(AuthThrottle).where(AuthThrottle.key.in_(keys))):
        limit = _limit_of(row.key)
        ends = row.window_started_at + limit.window
        if row.count >= limit.attempts and ends > now:
            waits.append(math.ceil((ends - now).total_seconds()))
    return max(waits, default=None)


def record(keys: list[str], now: datetime | None = None) -> None:
    """Count one attempt against each key (a window that has ended starts again). Atomic: one
    UPDATE per key, or an INSERT when the key is new, so concurrent attempts never lose a count.
    Commits, so a failed log-in is counted even though nothing else is written."""
    now = now or utcnow()
    with serialised_writes():
        for key in keys:
            _count(key, now)
        db.session.commit()


def _count(key: str, now: datetime) -> None:
    window_over = AuthThrottle.window_started_at <= now - _limit_of(key).window
    statement = (sa.update(AuthThrottle).where(AuthThrottle.key == key).values(
        count=sa.case((window_over, 1), else_=AuthThrottle.count + 1),
        window_started_at=sa.case((window_over, now), else_=AuthThrottle.window_started_at)))
    if db.session.execute(statement).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(AuthThrottle(key=key, window_started_at=now, count=1))
    except IntegrityError:  # another process inserted it meanwhile: count on its row
        db.session.execute(statement)


def clear(key: str) -> None:
    """Forget a key's attempts (the caller commits)."""
    db.session.execute(sa.delete(AuthThrottle).where(AuthThrottle.key == key))


def prune(_app=None) -> int:
    """The scheduler's pruning job: delete counters whose window ended long ago."""
    cutoff = utcnow() - FORGET_AFTER
    with serialised_writes():
        removed = db.session.execute(sa.delete(AuthThrottle).where(AuthThrottle.window_started_at < cutoff)).rowcount
        db.session.commit()
    return removed
