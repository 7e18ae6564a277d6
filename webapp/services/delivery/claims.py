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
# (SQLite already serialises writers). Any constant unique to Tocsin will do. A batch claim
# takes it exclusively; a first attempt's claim takes it shared plus its endpoint's own lock
# (namespace, endpoint id: the two-key space, apart from this one), so first attempts to
# different endpoints are claimed side by side, while one endpoint's are still counted one at a
# time. As one lock for every claim it was half of a PostgreSQL worker's time, waiting.
POSTGRES_CLAIM_LOCK = 0x70C5_1C1A
POSTGRES_ENDPOINT_LOCK_NAMESPACE = 0x70C5


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


def _one_is_claimable() -> sa.ColumnElement[bool]:
    """The `only_id` row is due and its endpoint has a free slot (a first attempt's claim).

    Its endpoint's in-flight and recent attempts are counted for that endpoint alone, not
    grouped over every endpoint as the batch ranking must. Recent attempts are found through
    `started_at` (the last second's few), never through the endpoint's whole history: the
    `+ 0` keeps SQLite's planner off the endpoint index."""
    busy, attempted = aliased(Delivery, name="busy"), aliased(Delivery, name="attempted")
    in_flight = (sa.select(sa.func.count()).select_from(busy)
                 .where(busy.status == "sending", busy.lease_until >= _NOW, busy.endpoint_id == Delivery.endpoint_id)
                 .scalar_subquery())
    started_recently = (sa.select(sa.func.count()).select_from(DeliveryAttempt)
                        .join(attempted, attempted.id == DeliveryAttempt.delivery_id)
                        .where(DeliveryAttempt.started_at > sa.bindparam("rate_since", type_=UTCDateTime()),
                               attempted.endpoint_id + 0 == Delivery.endpoint_id)
                        .scalar_subquery())
    return sa.and_(Delivery.id == sa.bindparam("only_id"), due_condition(_NOW),
                   in_flight < sa.bindparam("concurrency", type_=sa.Integer()),
                   in_flight + started_recently < sa.bindparam("per_second", type_=sa.Integer()))


def _claim_values(update: sa.Update) -> sa.Update:
    return (update.values(status="sending", lease_until=_lease_expression(), updated_at=_NOW)
            .returning(Delivery.id, Delivery.lease_until))


def _claim_update(ids) -> sa.Update:
    return _claim_values(sa.update(Delivery).where(Delivery.id.in_(ids), due_condition(_NOW)))  # repeated: the row may have moved


@cache
def _statements(scope: str, postgresql: bool) -> tuple[sa.Executable, ...]:
    """SQLite: the claiming UPDATE. PostgreSQL: the candidates locked (FOR UPDATE SKIP LOCKED),
    then the UPDATE of those ids."""
    if scope == "one":  # by primary key: as `id IN (…)`, SQLite walked every due row to apply it
        if not postgresql:
            return (_claim_values(sa.update(Delivery).where(_one_is_claimable())),)
        return (sa.select(Delivery.id).where(_one_is_claimable()).with_for_update(skip_locked=True),
                _claim_update(sa.bindparam("ids", expanding=True)))
    candidates = _candidates(scope)
    if not postgresql:
        # One statement under SQLite's write lock: no row can move between the ranking and the
        # update, and with the due condition repeated here SQLite walked every due row to apply it.
        return (_claim_values(sa.update(Delivery).where(Delivery.id.in_(candidates))),)
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
                take_claim_lock(connection, only_id=parameters["only_id"] if scope == "one" else None)
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


# The claim lock, and in the same statement (no extra round trip) the stranded-transaction limit.
# A batch claim takes the claim lock exclusive; a first attempt's claim takes it shared plus its
# endpoint's own lock (select-list order: the shared lock first, so a batch claimer holding the
# exclusive lock never waits for an endpoint's, no cycle): one lock for every claim was half of
# a worker's time.
_IDLE_LIMIT_SETTING = sa.func.set_config("idle_in_transaction_session_timeout",
                                         sa.bindparam("idle_limit", type_=sa.String()), True)
_CLAIM_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger())),
                        _IDLE_LIMIT_SETTING)
_ENDPOINT_LOCKS = (sa.select(sa.func.pg_advisory_xact_lock_shared(sa.bindparam("key", type_=sa.BigInteger())),
                             sa.func.pg_advisory_xact_lock(sa.bindparam("namespace", type_=sa.Integer()),
                                                           Delivery.endpoint_id),
                             _IDLE_LIMIT_SETTING)
                   .where(Delivery.id == sa.bindparam("only_id")))
_IDLE_LIMIT = sa.select(_IDLE_LIMIT_SETTING)


def stranded_transaction_limit() -> str:
    """How long a transaction of ours may sit idle on PostgreSQL: the lease margin (the allowance
    for the database work around an attempt), at least a second, in milliseconds."""
    return str(max(1000, int(lease_margin() * 1000)))


def take_claim_lock(connection, only_id: int | None = None) -> None:
    """PostgreSQL: serialise claimers (the per-endpoint limits hold across processes) and limit
    how long this transaction may sit idle. A host whose link is cut between a claim's statements
    and its COMMIT leaves a session idle in its transaction, holding the claim lock (and the rows'
    locks) until the server drops it — TCP keepalive: two hours by default — which stalls every
    other host's claims; with the limit, the server ends that transaction after the lease margin.
    `only_id`: a first attempt's claim of that delivery (shared lock plus its endpoint's)."""
    parameters = {"key": POSTGRES_CLAIM_LOCK, "idle_limit": stranded_transaction_limit()}
    if only_id is None:
        connection.execute(_CLAIM_LOCK, parameters)
    else:
        connection.execute(_ENDPOINT_LOCKS, {**parameters, "namespace": POSTGRES_ENDPOINT_LOCK_NAMESPACE,
                                             "only_id": only_id})


def limit_stranded_transaction(connection) -> None:
    """PostgreSQL: the same limit for a write transaction that locks leased rows or an endpoint
    (outcomes.py), so a cut host cannot keep them locked from the host taking its leases over."""
    connection.execute(_IDLE_LIMIT, {"idle_limit": stranded_transaction_limit()})


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
        if is_postgresql(db.engine):
            limit_stranded_transaction(db.session.connection())
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
