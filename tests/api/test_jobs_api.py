"""/api/v1/jobs: create a job before its first run, change its schedule, grace and pause, read it
with its status and next expected time; bad schedules answer 400 naming the field."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.app import TEST_DATABASE_URL
from webapp.models import AuditEvent, Job, Run
from webapp.services.alerting import sweeps
from webapp.timeutil import isoformat, utcnow

JOB_FIELDS = {"id", "slug", "name", "default_deadline_seconds", "schedule", "grace_seconds", "is_paused",
              "status", "next_expected_at", "last_run_status", "created_at"}
NIGHTLY = {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}


def create(api, **body):
    response = api.post("/jobs", json={"slug": "nightly-backup", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def move_slot(db, slug, expected_ago: timedelta):
    """What the passing of time does to the job's armed slot."""
    job = db.session.scalar(sa.select(Job).where(Job.slug == slug))
    expected = utcnow() - expected_ago
    job.expected_at, job.missing_after = expected, expected + timedelta(seconds=job.grace_seconds)
    db.session.commit()


def test_post_creates_a_job_before_its_first_run(api):
    before = utcnow()
    body = create(api, name="Nightly backup", schedule={"every_seconds": 3600}, grace_seconds=600)
    assert set(body) == JOB_FIELDS
    assert (body["slug"], body["name"], body["schedule"], body["grace_seconds"], body["is_paused"]) == (
        "nightly-backup", "Nightly backup", {"every_seconds": 3600}, 600, False)
    assert body["status"] == "new" and body["last_run_status"] is None
    assert isoformat(before + timedelta(hours=1)) <= body["next_expected_at"] <= isoformat(utcnow() + timedelta(hours=1))
    assert api.get("/jobs/nightly-backup").get_json() == body


def test_post_defaults_name_grace_and_no_schedule(api):
    body = create(api)
    assert (body["name"], body["schedule"], body["grace_seconds"], body["next_expected_at"]) == (
        "nightly-backup", None, 300, None)


def test_a_slug_that_exists_answers_409(api):
    create(api)
    response = api.post("/jobs", json={"slug": "Nightly-Backup"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(("body", "field"), [
    ({"schedule": {"cron": "*/15 * * *", "timezone": "UTC"}}, "schedule.cron"),
    ({"schedule": {"cron": "99 * * * *", "timezone": "UTC"}}, "schedule.cron"),
    ({"schedule": {"cron": "*/15 * * * *", "timezone": "Europe/Atlantis"}}, "schedule.timezone"),
    ({"schedule": {"every_seconds": 0}}, "schedule.every_seconds"),
    ({"schedule": "hourly"}, "schedule"),
    ({"grace_seconds": -5}, "grace_seconds"),
    ({"slug": "no spaces"}, "slug"),
    ({"name": ""}, "name"),
    ({"is_paused": "yes"}, "is_paused"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_answers_400_naming_the_field(api, body, field):
    response = api.post("/jobs", json={"slug": "nightly-backup", **body})
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert api.get("/jobs/nightly-backup").status_code == 404  # nothing was created


def test_patch_changes_name_schedule_grace_and_pause_audited(api, db):
    create(api)
    body = api.patch("/jobs/nightly-backup", json={"name": "Backup", "schedule": NIGHTLY, "grace_seconds": 900}).json
    assert (body["name"], body["schedule"], body["grace_seconds"]) == ("Backup", NIGHTLY, 900)
    assert body["next_expected_at"].endswith(("T00:00:00Z", "T01:00:00Z"))  # 02:00 in Berlin, CEST or CET

    paused = api.patch("/jobs/nightly-backup", json={"is_paused": True}).json
    assert (paused["status"], paused["next_expected_at"], paused["is_paused"]) == ("paused", None, True)
    job = db.session.scalar(sa.select(Job))
    assert (job.expected_at, job.missing_after) == (None, None)

    unpaused = api.patch("/jobs/nightly-backup", json={"is_paused": False}).json
    assert unpaused["status"] == "new" and unpaused["next_expected_at"] == body["next_expected_at"]

    removed = api.patch("/jobs/nightly-backup", json={"schedule": None}).json
    assert (removed["schedule"], removed["next_expected_at"]) == (None, None)

    summaries = db.session.scalars(sa.select(AuditEvent.summary).where(AuditEvent.object_type == "job")
                                   .order_by(AuditEvent.id)).all()
    assert summaries == ["Job nightly-backup created (no schedule)",
                         "Job nightly-backup: name Backup, schedule every day at 02:00, grace seconds 900",
                         "Job nightly-backup: paused", "Job nightly-backup: unpaused",
                         "Job nightly-backup: schedule no schedule"]


def test_a_new_grace_keeps_the_slot_and_moves_its_missing_moment(api, db):
    create(api, schedule={"every_seconds": 3600})
    job = db.session.scalar(sa.select(Job))
    expected = job.expected_at
    api.patch("/jobs/nightly-backup", json={"grace_seconds": 60})
    db.session.expire_all()
    job = db.session.scalar(sa.select(Job))
    assert job.expected_at == expected and job.missing_after == expected + timedelta(seconds=60)


def test_patch_with_a_bad_schedule_changes_nothing(api):
    create(api, schedule={"every_seconds": 60})
    response = api.patch("/jobs/nightly-backup", json={"name": "Renamed",
                                                       "schedule": {"cron": "* * *", "timezone": "Nowhere/City"}})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"schedule.cron", "schedule.timezone"}
    assert api.get("/jobs/nightly-backup").json["name"] == "nightly-backup"


def test_unknown_and_foreign_jobs_are_404(api, other_api):
    other_api.post("/jobs", json={"slug": "their-job"})
    assert api.get("/jobs/their-job").status_code == 404
    assert api.patch("/jobs/their-job", json={"name": "mine now"}).status_code == 404
    assert api.post("/jobs", json={"slug": "their-job"}).status_code == 201  # slugs are per workspace


def test_status_follows_runs_and_slots(app, api, db):
    create(api, schedule={"every_seconds": 600}, grace_seconds=60)
    status = lambda: api.get("/jobs/nightly-backup").json["status"]  # noqa: E731
    assert status() == "new"
    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
    assert status() == "up"

    move_slot(db, "nightly-backup", timedelta(seconds=30))
    assert status() == "late"
    move_slot(db, "nightly-backup", timedelta(seconds=90))
    assert status() == "down"
    assert sweeps.sweep_missed_runs(app) == 1  # arms the next slot: the job stays down until it reports
    db.session.expire_all()
    assert api.get("/jobs/nightly-backup").json["next_expected_at"] > isoformat(utcnow())

    api.post("/runs", json={"job": "nightly-backup", "status": "running"})
    assert status() == "up"
    api.post("/runs", json={"job": "nightly-backup", "status": "verification_failed", "message": "checksum"})
    assert status() == "down"
    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
    assert status() == "up"
    api.post("/runs", json={"job": "nightly-backup", "status": "running", "deadline_seconds": 60})
    # The deadline passes, before the deadline sweep has marked the run:
    db.session.execute(sa.update(Run).where(Run.status == "running").values(deadline_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    body = api.get("/jobs/nightly-backup").json
    assert (body["status"], body["last_run_status"]) == ("down", "timed out")  # not "running"


def test_the_list_shows_the_same_job_shape_as_the_detail(api):
    create(api, schedule=NIGHTLY)
    api.post("/runs", json={"job": "adhoc", "status": "failed"})
    items = {item["slug"]: item for item in api.get("/jobs").json["items"]}
    assert items["nightly-backup"] == api.get("/jobs/nightly-backup").json
    assert set(items["adhoc"]) == JOB_FIELDS and items["adhoc"]["status"] == "down"


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="the API cache exists only on PostgreSQL")
@pytest.mark.parametrize("database_uri", ["postgresql"], indirect=True)
@pytest.mark.parametrize("app_config", [{"TOCSIN_API_CACHE": True}])
def test_a_schedule_set_after_reports_is_honoured_by_the_next_report_with_the_cache(api, db):
    import time

    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})  # the job is cached unscheduled
    api.patch("/jobs/nightly-backup", json={"schedule": {"every_seconds": 3600}})
    db.session.execute(sa.update(Job).values(expected_at=None, missing_after=None))
    db.session.commit()
    deadline = time.monotonic() + 3
    while True:
        api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
        db.session.expire_all()
        if db.session.scalar(sa.select(Job.expected_at)) is not None:
            break
        assert time.monotonic() < deadline, "the report never saw the new schedule"
        time.sleep(0.01)
