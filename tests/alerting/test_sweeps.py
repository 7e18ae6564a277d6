"""The deadline sweep: an overdue run is timed out exactly once, however many sweepers run."""
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_endpoint, make_workspace
from webapp.models import Alert, Delivery, Job, Rule, Run
from webapp.services.alerting import sweeps
from webapp.services.delivery import pool
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
    assert pool.wait_idle()
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


def overdue_runs(db, workspace_id: int, count: int) -> list[int]:
    """`count` runs of the workspace's job whose deadline passed a minute ago, inserted at once."""
    job = db.session.scalar(sa.select(Job).where(Job.workspace_id == workspace_id))
    now = utcnow()
    db.session.execute(sa.insert(Run), [
        {"workspace_id": workspace_id, "job_id": job.id, "status": "running", "external_id": f"overdue-{number}",
         "started_at": now - timedelta(hours=1), "deadline_at": now - timedelta(minutes=1)}
        for number in range(count)])
    db.session.commit()
    return list(db.session.scalars(sa.select(Run.id).where(Run.workspace_id == workspace_id).order_by(Run.id)))


@pytest.fixture
def silent_timeout_rule(db):
    """A timeout rule without endpoints: alerts are raised, nothing is sent."""
    workspace = make_workspace("Many overdue runs")
    rule = Rule(workspace_id=workspace.id, name="overdue", event="run_timed_out", severity="warning", endpoints=[],
                cooldown_seconds=0)
    db.session.add_all([rule, Job(workspace_id=workspace.id, slug="hourly-sync", name="Hourly sync")])
    db.session.commit()
    return rule


def alerted_run_ids(db) -> list[int]:
    return sorted(db.session.scalars(sa.select(Alert.run_id).where(Alert.type == "run_timed_out")))


@pytest.mark.postgres_too
def test_two_sweepers_time_out_every_run_of_several_batches_once(app, db, silent_timeout_rule):
    run_ids = overdue_runs(db, silent_timeout_rule.workspace_id, sweeps.SWEEP_BATCH * 2 + 50)

    won = sweep_concurrently(app, sweepers=2, until=time.time() + 1.0)

    assert sum(won) == len(run_ids)
    db.session.expire_all()
    assert alerted_run_ids(db) == run_ids  # one alert per run, none twice
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Run).where(Run.timed_out_at.is_(None))) == 0


def test_sweep_statements_grow_with_batches_not_runs_when_no_rule_applies(app, db):
    workspace = make_workspace("No rules")
    db.session.add(Job(workspace_id=workspace.id, slug="quiet", name="Quiet"))
    db.session.commit()
    run_ids = overdue_runs(db, workspace.id, sweeps.SWEEP_BATCH * 2 + 10)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert sweeps.sweep_deadlines(app) == len(run_ids)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    updates = [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 3  # one guarded UPDATE per batch of SWEEP_BATCH
    assert len(statements) <= 3 * 5, statements  # find, UPDATE, SAVEPOINT, rules, RELEASE


def test_a_failing_matcher_loses_neither_that_timeout_nor_the_other_runs_alerts(app, db, silent_timeout_rule,
                                                                                monkeypatch):
    run_ids = overdue_runs(db, silent_timeout_rule.workspace_id, 5)
    unlucky = run_ids[2]
    raise_alerts = sweeps.raising.raise_alerts

    def fails_for_one_run(run, events, rules=None):
        delivery_ids = raise_alerts(run, events, rules)  # its alert is written, then the savepoint undoes it
        if run.id == unlucky:
            raise RuntimeError("matcher bug")
        return delivery_ids

    monkeypatch.setattr(sweeps.raising, "raise_alerts", fails_for_one_run)

    assert sweeps.sweep_deadlines(app) == 5
    db.session.expire_all()
    assert alerted_run_ids(db) == [run_id for run_id in run_ids if run_id != unlucky]
    assert all(db.session.get(Run, run_id).timed_out_at is not None for run_id in run_ids)
    assert sweeps.sweep_deadlines(app) == 0  # the unlucky run stays timed out, never swept twice


def test_sweep_raises_only_rules_of_the_runs_own_workspace(app, db, silent_timeout_rule):
    other = make_workspace("Other tenant")
    other_rule = Rule(workspace_id=other.id, name="theirs", event="run_timed_out", severity="critical", endpoints=[],
                      cooldown_seconds=0)
    db.session.add_all([other_rule, Job(workspace_id=other.id, slug="hourly-sync", name="Hourly sync")])
    db.session.commit()
    mine = overdue_runs(db, silent_timeout_rule.workspace_id, 3)
    theirs = overdue_runs(db, other.id, 2)

    assert sweeps.sweep_deadlines(app) == 5
    rows = db.session.execute(sa.select(Alert.run_id, Alert.rule_id, Alert.workspace_id)).all()
    assert sorted(rows) == sorted([(run_id, silent_timeout_rule.id, silent_timeout_rule.workspace_id) for run_id in mine]
                                  + [(run_id, other_rule.id, other.id) for run_id in theirs])
