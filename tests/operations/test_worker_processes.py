"""The delivery engine's promises about processes, checked with real `tocsin worker` processes on
one database (SQLite file or PostgreSQL schema): a worker killed mid-send loses nothing (the
lease expires and another worker sends again, same webhook-id), two workers never send one
delivery twice, and two sweepers time an overdue run out once."""
import collections
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.support.engine_process import Workers
from tests.support.factories import make_alert, make_deliveries, make_delivery, make_endpoint, make_workspace
from webapp.models import Alert, Delivery, DeliveryAttempt, Job, Rule, Run, SchedulerHeartbeat
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too

# Both pools (8 senders each) busy on one endpoint, so 500 deliveries to one receiver take seconds, not minutes.
FAST_ENDPOINT = {"TOCSIN_ENDPOINT_CONCURRENCY": 16, "TOCSIN_ENDPOINT_RATE": 100000}


@pytest.fixture
def workers(app, database_uri, tmp_path):
    """Start worker processes on the test's database; every one is stopped at teardown."""
    started = Workers(database_uri, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def wait_until(db, workers, condition, what: str, timeout: float = 30.0):
    """Poll the database until `condition()` is truthy (a wait with a generous deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # a fresh read each time
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{workers.output()}")
        time.sleep(0.1)


def count(db, model, *conditions) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def test_delivery_of_a_worker_killed_mid_send_is_completed_by_the_next_worker_with_the_same_id(
        app, db, receiver, workers):
    endpoint, secret = make_endpoint(make_workspace(), receiver.url(), timeout_seconds=2)
    delivery = make_delivery(endpoint)
    db.session.commit()
    delivery_id, message_id = delivery.id, delivery.message_id
    receiver.respond(200, delay=float("inf"))  # the first request is held open until the test ends

    first = workers.start()
    receiver.wait_for(1, timeout=30)
    first.kill()  # SIGKILL while its request is in flight: nothing is recorded, nothing released

    db.session.rollback()
    stuck = db.session.get(Delivery, delivery_id, populate_existing=True)
    assert (stuck.status, stuck.attempt_count) == ("sending", 0)

    workers.start()  # takes the row over once the dead worker's lease has expired
    wait_until(db, workers, lambda: db.session.get(Delivery, delivery_id, populate_existing=True).status
               == "delivered", "the new worker to deliver")

    requests = receiver.requests
    assert [request.headers["webhook-id"] for request in requests] == [message_id, message_id]
    verifier = Webhook(secret)
    for request in requests:
        verifier.verify(request.body, request.headers)
    attempts = db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)).all()
    assert [(attempt.number, attempt.outcome) for attempt in attempts] == [(1, "success")]


def test_two_workers_sharing_500_due_deliveries_send_each_exactly_once(app, db, receiver, workers):
    endpoint, _ = make_endpoint(make_workspace(), receiver.url())
    alert = make_alert(endpoint)
    db.session.commit()
    running = [workers.start(**FAST_ENDPOINT), workers.start(**FAST_ENDPOINT)]
    for worker in running:
        worker.wait_until_beating()

    delivery_ids = make_deliveries(500, endpoint, alert)  # all due at once, while both are claiming
    db.session.commit()
    wait_until(db, workers, lambda: count(db, Delivery, Delivery.status == "delivered") == 500,
               "500 deliveries to be delivered", timeout=45)

    message_ids = set(db.session.scalars(sa.select(Delivery.message_id).where(Delivery.id.in_(delivery_ids))))
    seen = collections.Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert set(seen) == message_ids
    assert [message_id for message_id, times in seen.items() if times > 1] == []
    assert count(db, DeliveryAttempt) == 500
    assert all(worker.process.poll() is None for worker in running)
    beating = set(db.session.scalars(sa.select(SchedulerHeartbeat.pid)))
    assert {worker.pid for worker in running} <= beating  # one heartbeat row per process


def test_two_worker_sweepers_time_an_overdue_run_out_once(app, db, receiver, workers):
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url())
    job = Job(workspace_id=workspace.id, slug="nightly-report", name="Nightly report")
    rule = Rule(workspace_id=workspace.id, name="nightly overdue", event="run_timed_out", severity="critical",
                endpoints=[endpoint])
    db.session.add_all([job, rule])
    db.session.flush()
    now = utcnow()
    run = Run(workspace_id=workspace.id, job_id=job.id, status="running", started_at=now,
              deadline_at=now + timedelta(seconds=1))
    db.session.add(run)
    db.session.commit()
    sweepers = [workers.start(), workers.start()]
    for worker in sweepers:
        worker.wait_until_beating()

    wait_until(db, workers, lambda: count(db, Delivery, Delivery.status == "delivered") == 1,
               "the timeout alert to be delivered")
    time.sleep(1.0)  # both sweepers keep sweeping: give a second timeout alert every chance to appear

    db.session.rollback()
    assert db.session.scalar(sa.select(Run.timed_out_at).where(Run.id == run.id)) is not None
    assert [alert.type for alert in db.session.scalars(sa.select(Alert))] == ["run_timed_out"]
    assert count(db, Delivery) == 1
    assert len(receiver.requests) == 1
    for worker in sweepers:  # `tocsin worker` stops cleanly on SIGTERM
        worker.stop()
        assert worker.process.returncode == 0, worker.output()
        assert "Tocsin worker running" in worker.output()
