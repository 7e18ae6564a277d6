"""Precise wake-ups in one process (issue 15, point 7): the scheduler's loop sleeps until the
earliest due moment, read from an index, and a report or a retry that makes something due
earlier wakes it at once. Every longest sleep is set to a minute here, so an alert or a retry
that arrives at all, within seconds, was woken for: no poll could have found it."""
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_alert, make_deliveries, make_endpoint, make_workspace
from webapp import wakeups
from webapp.extensions import db as _db
from webapp.models import DeliveryAttempt, Job, Rule, Workspace
from webapp.scheduler import start_scheduler, stop_scheduler
from webapp.services.alerting import due as alerting_due
from webapp.services.delivery import due as delivery_due
from webapp.services.delivery import pool
from webapp.timeutil import isoformat, utcnow

A_MINUTE = {"TOCSIN_SWEEP_INTERVAL": 60.0, "TOCSIN_RETRY_INTERVAL": 60.0, "TOCSIN_WAKEUP_POLL": 60.0}


@pytest.fixture
def app_config():
    return dict(A_MINUTE)


@pytest.fixture
def loop(app, db):
    start_scheduler(app)
    loop = app.extensions["tocsin_wakeups"]
    try:
        yield sleeping(loop)
    finally:
        stop_scheduler(app)


def sleeping(loop, passes: int = 1):
    """Wait until the loop finished `passes` passes and found nothing due (it sleeps a minute)."""
    done = threading.Event()
    for _ in range(200):
        if loop.passes >= passes and all(moment is None for moment in loop.moments.values()):
            return loop
        done.wait(0.05)
    raise AssertionError(f"the loop never settled: {loop.moments}")


def timeout_rule_for(db, workspace_id: int, url: str) -> Rule:
    endpoint, _ = make_endpoint(db.session.get(Workspace, workspace_id), url, timeout_seconds=2)
    rule = Rule(workspace_id=workspace_id, name="overdue", event="run_timed_out", severity="critical",
                endpoints=[endpoint])
    db.session.add(rule)
    db.session.commit()
    return rule


@pytest.mark.postgres_too
def test_a_report_with_an_earlier_deadline_wakes_the_sleeping_loop_and_its_alert_arrives(app, db, api, receiver,
                                                                                        loop):
    workspace_id = db.session.scalar(sa.select(Workspace.id))
    timeout_rule_for(db, workspace_id, receiver.url())
    passes_before = loop.passes
    deadline = utcnow() + timedelta(milliseconds=600)

    response = api.post("/runs", json={"job": "nightly-report", "external_id": "r1", "deadline_at": isoformat(deadline)})
    assert response.status_code == 201

    (request,) = receiver.wait_for(1, timeout=20)  # a third of the loop's one-minute sleep
    payload = request.json()
    assert payload["data"]["alert"]["type"] == "run_timed_out"
    assert payload["data"]["run"]["external_id"] == "r1"
    assert request.received_at >= deadline.timestamp()  # never early: it waited for the deadline itself
    assert loop.passes > passes_before


def test_a_failed_attempt_wakes_the_loop_for_its_retry(app, db, receiver, loop):
    endpoint, _ = make_endpoint(make_workspace(), receiver.url())
    (delivery_id,) = make_deliveries(1, endpoint, make_alert(endpoint))
    db.session.commit()
    receiver.respond(500)  # the first attempt fails; the retry (0.01 × 10 s back-off) gets 200

    pool.send_after_commit(app, [delivery_id])

    first, retry = receiver.wait_for(2, timeout=20)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert pool.wait_idle(timeout=10)  # the retry's outcome is written
    db.session.rollback()
    started = db.session.scalars(sa.select(DeliveryAttempt.started_at).where(DeliveryAttempt.delivery_id == delivery_id)
                                 .order_by(DeliveryAttempt.number)).all()
    assert len(started) == 2 and started[1] - started[0] >= timedelta(seconds=0.08)  # it waited for its back-off


def test_deliveries_held_back_by_the_rate_limit_leave_as_slots_free(app, db, receiver, loop):
    app.config.update(TOCSIN_ENDPOINT_RATE=2, TOCSIN_ENDPOINT_CONCURRENCY=4)
    endpoint, _ = make_endpoint(make_workspace(), receiver.url())
    delivery_ids = make_deliveries(6, endpoint, make_alert(endpoint))
    db.session.commit()

    pool.send_after_commit(app, delivery_ids)  # two go at once; four wait for the rate limit

    assert len(receiver.wait_for(6, timeout=20)) == 6
    assert pool.wait_idle(timeout=10)
    db.session.rollback()
    started = db.session.scalars(sa.select(DeliveryAttempt.started_at).order_by(DeliveryAttempt.started_at)).all()
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in zip(started[:-2], started[2:], strict=True))


def test_wake_at_without_a_scheduler_in_the_process_is_harmless(app, db):
    assert wakeups._local_loops() == []
    wakeups.wake_at(utcnow())
    wakeups.wake_at(None)
    wakeups.attempt_finished()


@pytest.mark.postgres_too
def test_wake_at_without_a_local_loop_notifies_other_processes_only_for_near_moments(app, db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    listener = db.engine.raw_connection()
    try:
        connection = listener.dbapi_connection
        connection.autocommit = True
        connection.execute(f"LISTEN {wakeups.CHANNEL}")
        near, far = utcnow() + timedelta(seconds=2), utcnow() + timedelta(minutes=5)
        wakeups.wake_at(far)  # beyond every loop's longest sleep: no notice
        wakeups.wake_at(near)
        notices = [notice.payload for notice in connection.notifies(timeout=2, stop_after=2)]
    finally:
        listener.close()
    assert notices == [isoformat(near)]
    assert wakeups._moment(notices[0]) == near


# --- the due moments are index probes --------------------------------------------------------

def plan(db, statement) -> str:
    compiled = statement.compile(db.engine)
    connection = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                          tuple(compiled.params[name] for name in compiled.positiontup)).all()
        return " | ".join(row[-1] for row in rows)
    rows = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
    return json.dumps(rows if not isinstance(rows, str) else json.loads(rows))


def held_now():
    return delivery_due._held_endpoints(utcnow())


@pytest.mark.postgres_too
@pytest.mark.parametrize("statement, index", [
    (lambda: alerting_due.NEXT_DEADLINE, "ix_run_open_deadline"),
    (lambda: alerting_due.NEXT_MISSED_SLOT, "ix_job_missing_after"),
    (lambda: alerting_due.NEXT_REPEAT, "ix_alert_next_repeat_at"),
    (lambda: delivery_due._NEXT_PENDING, "ix_delivery_status_next_attempt_at"),
    (lambda: delivery_due._NEXT_LEASE_END, "ix_delivery_status_lease_until"),
    # While deliveries are held back: the attempts of the last second, and the live claims.
    (lambda: delivery_due.oldest_attempt_query(utcnow(), held_now()), "ix_delivery_attempt_started_at"),
    # (PostgreSQL may read the live claims through either (status, …) index.)
    (lambda: delivery_due.in_flight_query(utcnow(), held_now()),
     ("ix_delivery_status_lease_until", "ix_delivery_status_next_attempt_at")),
], ids=["deadline", "missed_slot", "repeat", "pending", "lease", "rate_slot", "in_flight"])
def test_each_next_due_moment_is_read_from_its_index(app, db, statement, index):
    statement = statement()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # empty tables: judge the usable plan
    details = plan(db, statement)
    db.session.rollback()
    assert any(name in details for name in ((index,) if isinstance(index, str) else index)), details
    assert "SCAN " not in details and "Seq Scan" not in details and "Sort" not in details, details
    assert "ix_delivery_endpoint_id_id" not in details  # never an endpoint's whole history


def test_next_deadline_ignores_finished_and_timed_out_runs(app, db):
    workspace = make_workspace()
    job = Job(workspace_id=workspace.id, slug="sync", name="sync")
    db.session.add(job)
    db.session.flush()
    now = utcnow()
    from webapp.models import Run
    db.session.add_all([
        Run(workspace_id=workspace.id, job_id=job.id, status="succeeded", deadline_at=now + timedelta(seconds=1)),
        Run(workspace_id=workspace.id, job_id=job.id, status="running", deadline_at=now + timedelta(seconds=2),
            timed_out_at=now),
        Run(workspace_id=workspace.id, job_id=job.id, status="running", deadline_at=now + timedelta(seconds=3)),
    ])
    db.session.commit()
    assert alerting_due.next_deadline() == now + timedelta(seconds=3)
    _db.session.rollback()
