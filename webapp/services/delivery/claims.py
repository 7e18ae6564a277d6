"""Claiming due deliveries: one atomic statement per claim, safe in any number of processes.

A claim moves due rows — `pending` whose `next_attempt_at` has come, or `sending` whose lease
expired because the process sending them died — to `sending` with a fresh lease, and returns
`(id, lease_until)`. Whoever holds the lease writes the outcome; nobody else can. The claim also
enforces the per-endpoint limits (TOCSIN_ENDPOINT_CONCURRENCY in flight, TOCSIN_ENDPOINT_RATE
attempts started per second): the excess simply stays `pending` for a later claim.
"""
import time
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from webapp.database import end_read, is_postgresql, serialised_writes
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.models.endpoints import Endpoint
from webapp.timeutil import UTCDateTime, utcnow

Claim = tuple[int, datetime]

MIN_ENDPOINT_TIMEOUT_SECONDS, MAX_ENDPOINT_TIMEOUT_SECONDS = 1, 300  # what an endpoint may set
# The lease is computed for the timeout rounded up to one of these (each ≥ the timeout, so the
# lease is always ≥ 2 × timeout + margin): a CASE over 15 buckets instead of one per second.
LEASE_TIMEOUT_BUCKETS = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, MAX_ENDPOINT_TIMEOUT_SECONDS)
DEFAULT_LEASE_MARGIN_SECONDS = 15.0
RATE_WINDOW = timedelta(seconds=1)
# A claim ranks at most this many of the oldest due rows (and as many expired leases).
CLAIM_WINDOW_MIN = 500
CLAIM_WINDOW_FACTOR = 10
# Ranking every due row costs in proportion to the backlog. When it found nothing claimable (every
# due endpoint at its limits, as when one receiver is down with thousands of retries due), it is
# not repeated in this process before this many times its own cost has passed: before, a claimer
# waiting on busy endpoints ranked every due row after each attempt, holding the write lock.
FULL_LOOK_COST_FACTOR = 10
_look_at_all = {"not_before": 0.0}
# Serialises claimers on PostgreSQL so the per-endpoint limits hold across processes
# (SQLite already serialises writers). Any constant unique to Tocsin will do.
POSTGRES_CLAIM_LOCK = 0x70C5_1C1A


def lease_seconds(timeout_seconds: int, margin: float) -> float:
    """How long a claim may run before another process may take the row over.

    Twice the endpoint timeout (connecting and reading each have the full timeout) plus a
    margin for the database work around the request, so a live sender is never overtaken.
    """
    return 2 * timeout_seconds + margin


def lease_margin() -> float:
    return float(current_app.config.get("TOCSIN_LEASE_MARGIN", DEFAULT_LEASE_MARGIN_SECONDS))


# Every claim runs the same few statements: they are built once with bound parameters (values
# below), so a claim costs no statement building — a 30-way lease CASE alone took 5–10 ms to
# build each time, the GIL-contended claimer's share of which starved the send threads.
_NOW = sa.bindparam("now", type_=UTCDateTime())


def _lease_expression() -> sa.ColumnElement:
    """`now + lease(endpoint timeout)` per row, as one portable expression.

    Endpoint timeouts are whole seconds between 1 and 300: a CASE rounds the timeout up to
    the first of LEASE_TIMEOUT_BUCKETS that holds it (each bucket's lease a bound
    `lease_<seconds>` parameter, see `_parameters`), which keeps the claim a single statement
    on SQLite and PostgreSQL alike. The lease may be a little longer than needed (a 25 s
    timeout gets a 30 s one's), never shorter.
    """
    timeout = sa.select(Endpoint.timeout_seconds).where(Endpoint.id == Delivery.endpoint_id).scalar_subquery()
    leases = {seconds: sa.bindparam(f"lease_{seconds}", type_=UTCDateTime()) for seconds in LEASE_TIMEOUT_BUCKETS}
    whens = [(timeout <= seconds, lease) for seconds, lease in leases.items()]
    return sa.case(*whens, else_=leases[MAX_ENDPOINT_TIMEOUT_SECONDS])


def due_condition(now, table=Delivery) -> sa.ColumnElement[bool]:
    """Rows that may be claimed now: due `pending` ones and `sending` ones with an expired lease."""
    return sa.or_(
        sa.and_(table.status == "pending", table.next_attempt_at <= now),
        sa.and_(table.status == "sending", table.lease_until < now),
    )


def _limits() -> tuple[int, int]:
    config = current_app.config
    concurrency = max(1, int(config.get("TOCSIN_ENDPOINT_CONCURRENCY", 4)))
    per_second = max(1, int(float(config.get("TOCSIN_ENDPOINT_RATE", 10.0))))
    return concurrency, per_second


def _parameters(now: datetime, limit: int, only_id: int | None, window: int | None) -> dict:
    """The values of the claim statements' bound parameters."""
    concurrency, per_second = _limits()
    margin = lease_margin()
    parameters = {f"lease_{seconds}": now + timedelta(seconds=lease_seconds(seconds, margin))
                  for seconds in LEASE_TIMEOUT_BUCKETS}
    parameters.update(now=now, rate_since=now - RATE_WINDOW, concurrency=concurrency, per_second=per_second,
                      limit=limit, only_id=only_id, window=window)
    return parameters


def _due_rows(scope: str) -> sa.Subquery:
    """(id, endpoint_id, next_attempt_at) of the due rows to rank: the `only_id` row ("one");
    the oldest `window` due `pending` rows and as many expired leases, each read in order
    through its (status, …) index, so the claim's cost does not grow with the queue
    ("window"); or every due row ("all")."""
    columns = (Delivery.id, Delivery.endpoint_id, Delivery.next_attempt_at)
    if scope == "one":
        return (sa.select(*columns).where(due_condition(_NOW), Delivery.id == sa.bindparam("only_id"))
                .subquery("due_rows"))
    if scope == "all":
        return sa.select(*columns).where(due_condition(_NOW)).subquery("due_rows")
    window = sa.bindparam("window", type_=sa.Integer())
    pending = (sa.select(*columns).where(Delivery.status == "pending", Delivery.next_attempt_at <= _NOW)
               .order_by(Delivery.next_attempt_at).limit(window).subquery("oldest_pending"))
    expired = (sa.select(*columns).where(Delivery.status == "sending", Delivery.lease_until < _NOW)
               .order_by(Delivery.lease_until).limit(window).subquery("expired_leases"))
    return sa.union_all(sa.select(pending), sa.select(expired)).subquery("due_rows")


def _candidates(scope: str) -> sa.Select:
    """Ids to claim: per endpoint, the oldest due rows that fit its free slots; endpoints take turns."""
    concurrency = sa.bindparam("concurrency", type_=sa.Integer())
    per_second = sa.bindparam("per_second", type_=sa.Integer())
    due_rows = _due_rows(scope)

    endpoints = sa.select(due_rows.c.endpoint_id).distinct().subquery("due_endpoint")
    # Counted once per endpoint from the few live rows (status and started_at indexes), not
    # once per due endpoint through its whole history: a claim stays cheap with a deep queue.
    busy = aliased(Delivery, name="busy")
    in_flight_counts = (sa.select(busy.endpoint_id, sa.func.count().label("count")).select_from(busy)
                        .where(busy.status == "sending", busy.lease_until >= _NOW)
                        .group_by(busy.endpoint_id).subquery("in_flight"))
    attempted = aliased(Delivery, name="attempted")
    recent_counts = (sa.select(attempted.endpoint_id, sa.func.count().label("count")).select_from(DeliveryAttempt)
                     .join(attempted, attempted.id == DeliveryAttempt.delivery_id)
                     .where(DeliveryAttempt.started_at > sa.bindparam("rate_since", type_=UTCDateTime()))
                     .group_by(attempted.endpoint_id).subquery("started_recently"))
    in_flight = sa.func.coalesce(in_flight_counts.c.count, 0)
    started_recently = sa.func.coalesce(recent_counts.c.count, 0)
    # In-flight attempts count against the rate too: they started recently and have no row yet.
    slots = (sa.select(
        endpoints.c.endpoint_id,
        (concurrency - in_flight).label("by_concurrency"),
        (per_second - in_flight - started_recently).label("by_rate"),
    ).select_from(endpoints)
        .outerjoin(in_flight_counts, in_flight_counts.c.endpoint_id == endpoints.c.endpoint_id)
        .outerjoin(recent_counts, recent_counts.c.endpoint_id == endpoints.c.endpoint_id)
        .subquery("slots"))

    ranked = sa.select(
        due_rows.c.id, due_rows.c.endpoint_id, due_rows.c.next_attempt_at,
        sa.func.row_number().over(partition_by=due_rows.c.endpoint_id,
                                  order_by=(due_rows.c.next_attempt_at, due_rows.c.id)).label("position"),
    ).subquery("ranked")
    return (sa.select(ranked.c.id)
            .join(slots, slots.c.endpoint_id == ranked.c.endpoint_id)
            .where(ranked.c.position <= slots.c.by_concurrency, ranked.c.position <= slots.c.by_rate)
            .order_by(ranked.c.position, ranked.c.next_attempt_at, ranked.c.id)
            .limit(sa.bindparam("limit", type_=sa.Integer())))


def _claim_update(ids, *, recheck: bool = True) -> sa.Update:
    """The claiming UPDATE of `ids`; `recheck` repeats the due condition, for ids locked by an
    earlier statement (the row may have moved since)."""
    conditions = (Delivery.id.in_(ids), due_condition(_NOW)) if recheck else (Delivery.id.in_(ids),)
    return (sa.update(Delivery)
            .where(*conditions)
            .values(status="sending", lease_until=_lease_expression(), updated_at=_NOW)
            .returning(Delivery.id, Delivery.lease_until))


@cache
def _statements(scope: str, postgresql: bool) -> tuple[sa.Executable, ...]:
    """SQLite: the claiming UPDATE. PostgreSQL: the candidates locked (FOR UPDATE SKIP LOCKED),
    then the UPDATE of those ids."""
    candidates = _candidates(scope)
    if not postgresql:
        # One statement under SQLite's write lock: the candidates cannot move before they are
        # updated. Repeating the due condition there made SQLite update through the OR of both
        # due indexes, every due row, instead of the few candidates by primary key: a claim's
        # cost grew with the backlog (11 ms for one row at 5,000 due during a receiver outage).
        return (_claim_update(candidates, recheck=False),)
    locked = (sa.select(Delivery.id).where(Delivery.id.in_(candidates), due_condition(_NOW))
              .with_for_update(skip_locked=True))
    return locked, _claim_update(sa.bindparam("ids", expanding=True))


def _claim(limit: int, only_id: int | None = None) -> list[Claim]:
    """The claim itself: one UPDATE … RETURNING, committed at once (short write transactions).

    The ranking looks at a bounded window of the oldest due rows; only when that window is
    full and none of it could be claimed (its endpoints are all at their limits) does it look
    at every due row, so an endpoint with a deep backlog never starves the others.
    """
    if limit <= 0:
        return []
    if only_id is not None:
        return _claim_from("one", _parameters(utcnow(), limit, only_id, None))
    window = max(CLAIM_WINDOW_MIN, CLAIM_WINDOW_FACTOR * limit)
    claims = _claim_from("window", _parameters(utcnow(), limit, None, window))
    if not claims and time.monotonic() >= _look_at_all["not_before"] and _window_full(window):
        started = time.monotonic()
        claims = _claim_from("all", _parameters(utcnow(), limit, None, None))
        if not claims:  # not again before FULL_LOOK_COST_FACTOR times its cost (see the constant)
            finished = time.monotonic()
            _look_at_all["not_before"] = finished + FULL_LOOK_COST_FACTOR * (finished - started)
    return claims


def _window_full(window: int) -> bool:
    now = utcnow()
    found = db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.select(Delivery.id).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .limit(window).subquery()))
    end_read()
    return found >= window


def _claim_from(scope: str, parameters: dict) -> list[Claim]:
    postgresql = is_postgresql(db.engine)
    statements = _statements(scope, postgresql)
    with serialised_writes():
        try:
            connection = db.session.connection()
            if postgresql:
                connection.execute(_ADVISORY_LOCK, {"key": POSTGRES_CLAIM_LOCK})
                locked, update = statements
                # Locked first, in this transaction: as a subquery of the UPDATE, the planner (misled by
                # stale statistics after a burst of new rows) re-ran it once per due row — seconds per claim.
                ids = list(connection.execute(locked, parameters).scalars())
                if not ids:
                    db.session.commit()
                    return []
                rows = connection.execute(update, {**parameters, "ids": ids})
            else:
                rows = connection.execute(statements[0], parameters)
            claims = [(row.id, row.lease_until) for row in rows]
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return claims


_ADVISORY_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger())))


def claim_due(limit: int) -> list[Claim]:
    """Claim up to `limit` due deliveries within the per-endpoint limits."""
    return _claim(limit)


def claim_one(delivery_id: int) -> Claim | None:
    """Claim one delivery (its first attempt) if it is due, unclaimed and its endpoint has room."""
    claims = _claim(1, only_id=delivery_id)
    return claims[0] if claims else None


def release(delivery_id: int, lease_until: datetime) -> bool:
    """Give a claimed but unstarted delivery back (graceful stop), if the lease is still ours."""
    with serialised_writes():
        released = db.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.lease_until == lease_until)
            .values(status="pending", lease_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    return bool(released)


def has_due(now: datetime | None = None) -> bool:
    """Whether anything is due at `now` (claimable or waiting for an endpoint's limits)."""
    found = db.session.scalar(sa.select(sa.exists().where(due_condition(now or utcnow()))))
    end_read()  # the caller may sleep next
    return bool(found)
