"""The deadline sweep: an overdue run is timed out exactly once, however many sweepers run."""
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.engine_factories import make_endpoint, make_workspace
from webapp.models import Alert, Delivery, Job, Rule, Run
from webapp.services import dispatch, sweeps
from webapp.timeutil import utcnow


@pytest.fixture
def timeout_rule(db, receiver):
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2)
    rule = Rule(workspace_id=workspace.id, name="nightly overdue", event="run_timed_out", severity="critical",
                endpoints=[endpoint])
    job = Job(workspace_id=workspace.id, slug="nightly-report", name="Nightly report")
    db.session.add_all([rule, job])
    db.session.commit()
    return rule


def start_run(db, rule, deadline_seconds: float) -> int:
    job = db.session.scalar(sa.select(Job).where(Job.workspace_id == rule.workspace_id))
    now = utcnow()
    run = Run(workspace_id=rule.workspace_id, job_id=job.id, status="running", started_at=now,
              deadline_at=now + timedelta(seconds=deadline_seconds))
    db.session.add(run)
    db.session.commit()
    return run.id


def sweep_concurrently(app, sweepers: int, until: float) -> list[int]:
    """Several sweepers (threads with their own sessions) sweeping in a loop until `until`."""
    won: list[int] = []
    barrier = threading.Barrier(sweepers)

    def sweeper():
        with app.app_context():
            barrier.wait()
            while time.time() < until:
                won.append(sweeps.sweep_deadlines(app))
                time.sleep(0.01)
            from webapp.extensions import db as thread_db
            thread_db.session.remove()

    threads = [threading.Thread(target=sweeper) for _ in range(sweepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


@pytest.mark.postgres_too
def test_overdue_run_raises_exactly_one_timeout_alert_with_two_sweepers(app, db, timeout_rule, receiver):
    run_id = start_run(db, timeout_rule, deadline_seconds=1)

    won = sweep_concurrently(app, sweepers=2, until=time.time() + 1.6)

    assert sum(won) == 1
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    assert run.timed_out_at is not None and run.status == "running"
    alerts = db.session.scalars(sa.select(Alert)).all()
    assert [(alert.type, alert.run_id) for alert in alerts] == [("run_timed_out", run_id)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1
    (request,) = receiver.wait_for(1)
    assert request.json()["data"]["alert"]["type"] == "run_timed_out"
    assert dispatch.wait_idle()
    assert len(receiver.requests) == 1


def test_run_finished_in_time_raises_nothing(app, db, timeout_rule, receiver):
    run_id = start_run(db, timeout_rule, deadline_seconds=0.5)
    db.session.execute(sa.update(Run).where(Run.id == run_id).values(
        status="succeeded", finished_at=utcnow(), duration_ms=100))
    db.session.commit()
    time.sleep(0.6)

    assert sweeps.sweep_deadlines(app) == 0
    assert db.session.get(Run, run_id).timed_out_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    assert receiver.requests == []


def test_run_before_its_deadline_is_left_alone(app, db, timeout_rule):
    run_id = start_run(db, timeout_rule, deadline_seconds=60)
    assert sweeps.sweep_deadlines(app) == 0
    assert db.session.get(Run, run_id).timed_out_at is None


def test_sweep_query_uses_the_open_deadline_partial_index(app, db):
    statement = sweeps.due_runs_query(utcnow()).compile(db.engine)
    plan = db.session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + str(statement), tuple(statement.params[name] for name in statement.positiontup)
    ).all()
    details = " | ".join(row[-1] for row in plan)
    assert "USING INDEX ix_run_open_deadline" in details, details
    assert "SCAN run" not in details.replace("SCAN run USING", "")
