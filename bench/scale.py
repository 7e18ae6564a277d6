"""The measurements on big tables, in the benchmark's own process (no server running): the
deadline sweep over a million runs and the delivery history over a million deliveries.

"Database time" is the time spent inside the driver: every statement (cursor execute, rows
fetched by the driver, SAVEPOINTs) plus every COMMIT and ROLLBACK, summed with engine events
around the DBAPI calls.
"""
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bench import bulk
from bench.database import Seed


class DatabaseClock:
    """Sums the seconds spent in statements and commits on one engine while active."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = 0
        self.commits = 0
        self.rollbacks = 0


@contextmanager
def database_clock(engine: sa.Engine):
    clock = DatabaseClock()

    def before(_conn, _cursor, _statement, _parameters, context, _many):
        context._bench_started = time.perf_counter()

    def after(_conn, _cursor, _statement, _parameters, context, _many):
        clock.seconds += time.perf_counter() - context._bench_started
        clock.statements += 1

    dialect = engine.dialect
    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def timed(plain, counter: str):
        def call(dbapi_connection):
            started = time.perf_counter()
            try:
                plain(dbapi_connection)
            finally:
                clock.seconds += time.perf_counter() - started
                setattr(clock, counter, getattr(clock, counter) + 1)
        return call


    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    # A rollback is a round trip on PostgreSQL, even after a read: it counts too.
    dialect.do_commit, dialect.do_rollback = timed(plain_commit, "commits"), timed(plain_rollback, "rollbacks")
    try:
        yield clock
    finally:
        dialect.do_commit, dialect.do_rollback = plain_commit, plain_rollback
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


@dataclass
class Sweep:
    runs: int
    due: int
    timed_out: int
    insert_seconds: float
    database_ms: float  # median over the repeats: the sweep's statements and commits
    wall_ms: float  # median: the whole sweep call, Python included
    find_ms: float  # median: the query that finds the due runs, alone
    statements: int
    commits: int = 0


def deadline_sweep(app, seed: Seed, total: int, due: int, repeats: int = 3) -> Sweep:
    """`total` runs of which `due` are overdue; time `sweeps.sweep_deadlines`, then put the runs
    back (timed_out_at = NULL) and time it again; medians of `repeats`."""
    from webapp.extensions import db
    from webapp.models import Run
    from webapp.services.alerting import sweeps

    with app.app_context():
        engine = db.engine
        insert_seconds = bulk.million_runs(engine, datetime.now(UTC), workspace_id=seed.sweep_workspace_id,
                                           job_ids=seed.sweep_job_ids, total=total, due=due)
        database, wall, find, timed_out, statements, commits = [], [], [], 0, 0, 0
        for _ in range(repeats):
            with database_clock(engine) as clock:
                list(db.session.scalars(sweeps.due_runs_query(datetime.now(UTC))))
                db.session.rollback()
            find.append(clock.seconds * 1000)
            with database_clock(engine) as clock:
                started = time.perf_counter()
                timed_out = sweeps.sweep_deadlines(app)
                wall.append((time.perf_counter() - started) * 1000)
            database.append(clock.seconds * 1000)
            statements, commits = clock.statements, clock.commits
            db.session.execute(sa.update(Run).where(Run.workspace_id == seed.sweep_workspace_id,
                                                    Run.timed_out_at.is_not(None)).values(timed_out_at=None))
            db.session.commit()
        db.session.remove()
    return Sweep(total, due, timed_out, insert_seconds, statistics.median(database), statistics.median(wall),
                 statistics.median(find), statements, commits)


@dataclass
class HistoryTiming:
    case: str
    service_ms: float  # median: history.list_deliveries, ORM included
    page_ms: float  # median: the whole HTML page through Flask (in process, no network)


@dataclass
class History:
    deliveries: int
    insert_seconds: float
    timings: list[HistoryTiming]


def _median_ms(action, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def delivery_history(app, seed: Seed, total: int, repeats: int = 5) -> History:
    """`total` deliveries over four endpoints; time the first page, and pages half-way down the
    table in an endpoint filter and in a status filter (the dead ones, 5 %)."""
    from webapp.extensions import db
    from webapp.models import Delivery
    from webapp.services import history

    with app.app_context():
        engine = db.engine
        insert_seconds = bulk.million_deliveries(
            engine, datetime.now(UTC), workspace_id=seed.workspace_id, rule_id=seed.history_rule_id,
            job_id=seed.history_job_id, endpoint_ids=seed.history_endpoint_ids, total=total)
        low, high = db.session.execute(sa.select(sa.func.min(Delivery.id), sa.func.max(Delivery.id))).one()
        db.session.remove()
    middle = (low + high) // 2
    endpoint = seed.history_endpoint_ids[1]
    cases = [
        ("first page, no filter", history.HistoryFilter(), None),
        ("deep page, endpoint filter", history.HistoryFilter(endpoint_id=endpoint), middle),
        ("deep page, status dead", history.HistoryFilter(status="dead"), middle),
    ]
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(seed.user_id)
        session["_fresh"] = True
    timings = []
    for label, filters, before in cases:
        def service(filters=filters, before=before, label=label):
            with app.app_context():
                page = history.list_deliveries(seed.workspace_id, filters, limit=50, before=before)
                if not page.items:
                    raise RuntimeError(f"history case {label!r} returned no rows")
                db.session.remove()

        query = {key: value for key, value in (("endpoint_id", filters.endpoint_id), ("status", filters.status),
                                               ("before", before)) if value is not None}

        def page(query=query):
            response = client.get("/settings/alerts/deliveries", query_string=query)
            if response.status_code != 200 or b"Older" not in response.data:
                raise RuntimeError(f"history page {query} answered {response.status_code} without deliveries")

        service()
        page()  # warm caches and templates once
        timings.append(HistoryTiming(label, _median_ms(service, repeats), _median_ms(page, repeats)))
    return History(total, insert_seconds, timings)
