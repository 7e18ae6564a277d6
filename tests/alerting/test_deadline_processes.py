"""Deadline alerts across real processes (issue 15, point 7): a run reported through the API
of one process, whose deadline another process's scheduler must keep, alerts once its deadline
passes — while the schedulers' longest sleeps are a minute, so only a wake-up explains an alert
within seconds: NOTIFY on PostgreSQL, the short bounded poll of the due moments on SQLite. Two
schedulers still raise one alert. The benchmark (`BENCH_ONLY=deadlines make bench`) holds the
number: p99 under a second."""
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.engine_process import Workers
from tests.support.factories import make_endpoint
from webapp.models import Alert, Delivery, Rule, Run, Workspace
from webapp.timeutil import isoformat, utcnow

pytestmark = pytest.mark.postgres_too

A_MINUTE = {"TOCSIN_SWEEP_INTERVAL": 60, "TOCSIN_RETRY_INTERVAL": 60}


@pytest.fixture
def workers(app, database_uri, tmp_path):
    started = Workers(database_uri, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def test_a_deadline_reported_to_one_process_alerts_once_from_two_sleeping_schedulers(app, db, api, receiver,
                                                                                    workers):
    workspace_id = db.session.scalar(sa.select(Workspace.id))
    endpoint, _ = make_endpoint(db.session.get(Workspace, workspace_id), receiver.url(), timeout_seconds=2)
    db.session.add(Rule(workspace_id=workspace_id, name="overdue", event="run_timed_out", severity="critical",
                        endpoints=[endpoint]))
    db.session.commit()
    schedulers = [workers.start(**A_MINUTE), workers.start(**A_MINUTE)]
    for worker in schedulers:
        worker.wait_until_beating()  # their loops ran a first pass and sleep: nothing is due

    deadline = utcnow() + timedelta(seconds=1)
    response = api.post("/runs", json={"job": "nightly-report", "external_id": "r1",
                                       "deadline_at": isoformat(deadline)})
    assert response.status_code == 201  # this process runs no scheduler: it only announces the deadline

    (request,) = receiver.wait_for(1, timeout=30)
    assert request.json()["data"]["run"]["external_id"] == "r1"
    assert request.received_at >= deadline.timestamp()
    time.sleep(1.0)  # both schedulers are awake and sweeping: give a second alert every chance to appear

    db.session.rollback()
    assert [alert.type for alert in db.session.scalars(sa.select(Alert))] == ["run_timed_out"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1
    assert len(receiver.requests) == 1, workers.output()
    assert db.session.scalar(sa.select(Run.timed_out_at)) is not None
    for worker in schedulers:  # the loop stops with the scheduler on SIGTERM
        worker.stop()
        assert worker.process.returncode == 0, worker.output()
