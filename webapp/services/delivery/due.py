"""When the delivery engine next has work, for the wake-up loop (webapp/wakeups.py).

- A pending delivery's `next_attempt_at` and a claim's `lease_until`: the first entry of the
  (status, next_attempt_at) and (status, lease_until) indexes, one probe each.
- While due deliveries are held back by their endpoint's limits (TOCSIN_ENDPOINT_RATE,
  TOCSIN_ENDPOINT_CONCURRENCY): the moment the oldest attempt of such an endpoint leaves the
  one-second rate window, read from the attempts of the last second only; and, when one of
  those endpoints has an attempt in flight (its end frees a concurrency slot; this process's
  own attempts wake the loop when they end, `wakeups.attempt_finished`), a short poll.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.services.delivery.claims import RATE_WINDOW
from webapp.timeutil import utcnow

IN_FLIGHT_POLL = timedelta(seconds=0.2)  # held back while another process's attempt is in flight
# The claim takes a lease only once `lease_until < now`, and a rate slot once the attempt is
# strictly older than the window: wake a hair after either.
AFTER = timedelta(milliseconds=1)

_NEXT_PENDING = (sa.select(Delivery.next_attempt_at)
                 .where(Delivery.status == "pending", Delivery.next_attempt_at.is_not(None))
                 .order_by(Delivery.next_attempt_at).limit(1))
_NEXT_LEASE_END = (sa.select(Delivery.lease_until)
                   .where(Delivery.status == "sending", Delivery.lease_until.is_not(None))
                   .order_by(Delivery.lease_until).limit(1))


def _held_endpoints(held_at: datetime) -> sa.Select:
    """Endpoints of the rows that were due at `held_at` and that no claim could take."""
    return sa.select(Delivery.endpoint_id).where(Delivery.status == "pending", Delivery.next_attempt_at <= held_at)


def next_delivery_moment(held_at: datetime | None = None) -> datetime | None:
    """The earliest moment a delivery may be claimed. `held_at`: the moment a claim last found
    due rows it could not take (their endpoints at their limits); those rows then count from
    when their endpoint frees a slot, not from their (past) `next_attempt_at`."""
    pending = _NEXT_PENDING if held_at is None else _NEXT_PENDING.where(Delivery.next_attempt_at > held_at)
    moments = [db.session.scalar(pending), db.session.scalar(_NEXT_LEASE_END)]
    if held_at is not None:
        moments.append(_slot_freed(held_at))
    moments = [moment for moment in moments if moment is not None]
    return min(moments) + AFTER if moments else None


def _slot_freed(held_at: datetime) -> datetime:
    now = utcnow()
    held = _held_endpoints(held_at)
    oldest_recent = db.session.scalar(oldest_attempt_query(now, held))
    in_flight = db.session.scalar(in_flight_query(now, held))
    moments = [oldest_recent + RATE_WINDOW] if oldest_recent is not None else []
    if in_flight is not None or not moments:  # nothing else explains the hold: look again soon
        moments.append(now + IN_FLIGHT_POLL)
    return min(moments)


def oldest_attempt_query(now: datetime, held: sa.Select) -> sa.Select:
    """The oldest attempt of the last second to one of the `held` endpoints. Driven by the
    attempts of that second (the started_at index), each one's endpoint looked up by primary
    key: as a join, SQLite walked every delivery the held endpoints ever had."""
    endpoint_of = sa.select(Delivery.endpoint_id).where(Delivery.id == DeliveryAttempt.delivery_id).scalar_subquery()
    return (sa.select(sa.func.min(DeliveryAttempt.started_at))
            .where(DeliveryAttempt.started_at > now - RATE_WINDOW, endpoint_of.in_(held)))


def in_flight_query(now: datetime, held: sa.Select) -> sa.Select:
    """An attempt in flight to one of the `held` endpoints, read from the live claims (the
    (status, lease_until) index), not from the endpoints' history."""
    return (sa.select(Delivery.id)
            .where(Delivery.status == "sending", Delivery.lease_until >= now,
                   Delivery.endpoint_id.in_(held))
            .limit(1))
