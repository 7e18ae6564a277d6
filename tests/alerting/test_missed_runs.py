"""Missed runs: a scheduled job with no report by its expected time plus grace raises
`run_missed` once per slot (also with two sweepers at once), delivered to the receiver; the next
report resolves it; paused and unscheduled jobs never alert; reports move the next slot."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_endpoint, make_workspace
from webapp.models import Alert, Delivery, Job, Rule
from webapp.services.alerting import ingest, missed_runs, sweeps
from webapp.services.alerting import jobs as job_service
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

BERLIN_NIGHTLY = {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}


@pytest.fixture
def missed_rule(db, receiver):
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2)
    rule = Rule(workspace_id=workspace.id, name="missed runs", event="run_missed", severity="critical",
                endpoints=[endpoint], cooldown_seconds=0)
    db.session.add(rule)
    db.session.commit()
    return rule


def scheduled_job(db, rule, slug="nightly-backup", schedule=None, grace_seconds=300) -> Job:
    return job_service.create_job(rule.workspace_id, {"slug": slug, "schedule": schedule or BERLIN_NIGHTLY,
                                                      "grace_seconds": grace_seconds})


def let_slot_pass(db, job: Job, expected_ago: timedelta) -> None:
    """What the passing of time does: the job's expected slot (and its grace) lie in the past."""
    expected = utcnow().replace(second=0, microsecond=0) - expected_ago
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(
        expected_at=expected, missing_after=expected + timedelta(seconds=job.grace_seconds)))
    db.session.commit()


def missed_alerts(db) -> list[Alert]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Alert).where(Alert.type == "run_missed").order_by(Alert.id)))


def sweep_concurrently(app, sweepers: int, rounds: int) -> list[int]:
    """Several sweepers (threads, each with its own app context and session) sweeping at once."""
    won: list[int] = []
    barrier = threading.Barrier(sweepers)

    def sweeper():
        with app.app_context():
            from webapp.extensions import db as thread_db
            try:
                barrier.wait()
                for _ in range(rounds):
                    won.append(sweeps.sweep_missed_runs(app))
            finally:
                thread_db.session.remove()

    threads = [threading.Thread(target=sweeper) for _ in range(sweepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_creating_a_scheduled_job_arms_its_first_slot_from_now(db, missed_rule):
    before = utcnow()
    job = scheduled_job(db, missed_rule, schedule={"every_seconds": 60}, grace_seconds=30)
    assert before + timedelta(seconds=60) <= job.expected_at <= utcnow() + timedelta(seconds=60)
    assert job.missing_after == job.expected_at + timedelta(seconds=30)


def test_a_slot_not_yet_past_its_grace_raises_nothing(app, db, missed_rule, receiver):
    job = scheduled_job(db, missed_rule)
    let_slot_pass(db, job, timedelta(minutes=2))  # late, but the 5 minutes of grace are not over
    assert sweeps.sweep_missed_runs(app) == 0
    assert missed_alerts(db) == []


@pytest.mark.postgres_too
def test_a_missed_slot_raises_exactly_one_alert_with_two_sweepers(app, db, missed_rule, receiver):
    job = scheduled_job(db, missed_rule)
    let_slot_pass(db, job, timedelta(minutes=6))
    slot = db.session.get(Job, job.id).expected_at

    won = sweep_concurrently(app, sweepers=2, rounds=10)

    assert sum(won) == 1
    [alert] = missed_alerts(db)
    assert alert.run_id is None and alert.job_id == job.id and alert.state == "firing"
    local = slot.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert alert.message == f"nightly-backup did not run: expected at {local:%H:%M} {local.tzname()} (grace 5 min)"
    assert alert.alert_metadata["job"]["slug"] == "nightly-backup"
    assert alert.alert_metadata["slot"]["expected_at"] == slot.isoformat().replace("+00:00", "Z")
    (request,) = receiver.wait_for(1)
    body = request.json()
    assert body["type"] == "alert.fired" and body["data"]["alert"]["type"] == "run_missed"
    assert body["data"]["run"] is None and body["data"]["job"]["slug"] == "nightly-backup"
    assert pool.wait_idle()
    assert len(receiver.requests) == 1
    rearmed = db.session.get(Job, job.id)
    assert rearmed.expected_at > utcnow() and rearmed.missing_after == rearmed.expected_at + timedelta(minutes=5)


@pytest.mark.postgres_too
def test_two_sweepers_raise_one_alert_per_job_over_several_batches(app, db, missed_rule):
    missed_rule.endpoints = []  # raise, send nothing
    db.session.commit()
    count = missed_runs.SWEEP_BATCH + 30
    jobs = [scheduled_job(db, missed_rule, slug=f"job-{number:03d}", schedule={"every_seconds": 3600})
            for number in range(count)]
    db.session.execute(sa.update(Job).values(expected_at=utcnow() - timedelta(hours=1),
                                             missing_after=utcnow() - timedelta(minutes=55)))
    db.session.commit()

    won = sweep_concurrently(app, sweepers=2, rounds=3)

    assert sum(won) == count
    assert sorted(alert.job_id for alert in missed_alerts(db)) == sorted(job.id for job in jobs)


def test_one_alert_per_missed_slot_not_per_sweep(app, db, missed_rule, receiver):
    job = scheduled_job(db, missed_rule)
    let_slot_pass(db, job, timedelta(minutes=6))
    assert sweeps.sweep_missed_runs(app) == 1
    assert [sweeps.sweep_missed_runs(app) for _ in range(3)] == [0, 0, 0]  # the same slot, swept again
    assert len(missed_alerts(db)) == 1

    let_slot_pass(db, job, timedelta(minutes=6))  # the next slot passes too, still no run
    assert sweeps.sweep_missed_runs(app) == 1
    assert len(missed_alerts(db)) == 2
    receiver.wait_for(2)


def test_after_a_scheduler_outage_the_slots_missed_meanwhile_make_one_alert(app, db, missed_rule, receiver):
    job = scheduled_job(db, missed_rule, schedule={"every_seconds": 60}, grace_seconds=0)
    let_slot_pass(db, job, timedelta(hours=2))  # 120 slots went by while no scheduler ran
    assert sweeps.sweep_missed_runs(app) == 1
    assert sweeps.sweep_missed_runs(app) == 0
    assert len(missed_alerts(db)) == 1
    assert db.session.get(Job, job.id).expected_at > utcnow()


def test_paused_and_unscheduled_jobs_never_alert(app, db, missed_rule):
    paused = scheduled_job(db, missed_rule, slug="paused-job")
    job_service.update_job(paused, {"is_paused": True})
    assert (paused.expected_at, paused.missing_after) == (None, None)
    unscheduled = scheduled_job(db, missed_rule, slug="no-schedule")
    job_service.update_job(unscheduled, {"schedule": None})
    assert (unscheduled.expected_at, unscheduled.missing_after) == (None, None)
    db.session.execute(sa.update(Job).values(expected_at=None, missing_after=None))  # as the service left them
    db.session.commit()
    assert sweeps.sweep_missed_runs(app) == 0
    assert missed_alerts(db) == []

    job_service.update_job(paused, {"is_paused": False})  # unpausing arms the next slot from now
    assert paused.expected_at > utcnow() and paused.missing_after == paused.expected_at + timedelta(minutes=5)


def test_the_next_report_resolves_the_missed_run_alert_and_moves_the_slot(app, db, missed_rule, receiver):
    job = scheduled_job(db, missed_rule, schedule={"every_seconds": 600}, grace_seconds=60)
    let_slot_pass(db, job, timedelta(minutes=20))
    assert sweeps.sweep_missed_runs(app) == 1
    receiver.wait_for(1)

    before = utcnow()
    reported = ingest.report_run(missed_rule.workspace_id, {"job": "nightly-backup", "status": "running",
                                                            "external_id": "cron-1"})
    assert reported.created
    [alert] = missed_alerts(db)
    assert alert.state == "resolved" and alert.resolved_at is not None and alert.resolved_by_id is None
    moved = db.session.get(Job, job.id)
    assert before + timedelta(seconds=600) <= moved.expected_at <= utcnow() + timedelta(seconds=600)
    assert moved.missing_after == moved.expected_at + timedelta(seconds=60)
    assert reported.missing_after == moved.missing_after


def test_finishing_a_run_moves_the_slot_again(app, db, missed_rule):
    job = scheduled_job(db, missed_rule, schedule={"every_seconds": 600}, grace_seconds=60)
    reported = ingest.report_run(missed_rule.workspace_id, {"job": job.slug, "status": "running"})
    first = db.session.get(Job, job.id).expected_at
    run = db.session.merge(reported.run)
    ingest.finish_run(run, {"status": "succeeded"})
    db.session.expire_all()
    assert db.session.get(Job, job.id).expected_at >= first


def test_a_report_of_an_unscheduled_job_leaves_its_moments_alone(app, db, missed_rule):
    ingest.report_run(missed_rule.workspace_id, {"job": "ad-hoc", "status": "succeeded"})
    job = db.session.scalar(sa.select(Job).where(Job.slug == "ad-hoc"))
    assert (job.schedule, job.expected_at, job.missing_after) == (None, None, None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_due_jobs_are_read_through_the_partial_index(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    statement = missed_runs.due_jobs_query(utcnow()).compile(db.engine)
    plan = db.session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + str(statement), tuple(statement.params[name] for name in statement.positiontup)
    ).all()
    details = " | ".join(row[-1] for row in plan)
    assert "ix_job_missing_after" in details, details
