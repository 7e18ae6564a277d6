"""POST /api/v1/runs, /runs/<id>/finish, GET /runs and /jobs: what a job's reporting client sees."""
import logging
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support.accounts import ApiClient
from webapp.models import Alert, AuditEvent, Job, Rule, Run
from webapp.services import accounts
from webapp.services.alerting import raising
from webapp.timeutil import isoformat, utcnow

RUN_FIELDS = {"id", "job", "external_id", "status", "started_at", "deadline_at", "finished_at", "timed_out_at",
              "duration_ms", "message", "metadata", "created_at"}


@pytest.fixture
def intruder_api(app, db):
    """A second workspace's API client, made through the accounts service.

    (conftest's `intruder_api` signs up through the pages, but the `app` fixture's long-lived app
    context shares `g`, so Flask-Login's cached user leaks into that second sign-up.)
    """
    user = accounts.create_user("intruder@example.com", "correct horse battery")
    _, key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="intruder key")
    db.session.commit()
    return ApiClient(app.test_client(), key)


def parse(text):
    return datetime.fromisoformat(text)


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_first_report_creates_job_and_running_run(api, db):
    response = api.post("/runs", json={"job": "nightly-report", "external_id": "build-1",
                                       "metadata": {"host": "web-1"}})
    assert response.status_code == 201
    body = response.json
    assert set(body) == RUN_FIELDS
    assert (body["job"], body["status"], body["external_id"]) == ("nightly-report", "running", "build-1")
    assert body["metadata"] == {"host": "web-1"}
    assert body["finished_at"] is None and body["deadline_at"] is None and body["started_at"].endswith("Z")
    job = db.session.scalar(sa.select(Job))
    assert (job.slug, job.name) == ("nightly-report", "nightly-report")
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "job.create")).object_id == str(job.id)


def test_job_slug_is_stored_lower_case(api, db):
    api.post("/runs", json={"job": "Nightly-Report"})
    api.post("/runs", json={"job": "nightly-report"})
    assert db.session.scalars(sa.select(Job.slug)).all() == ["nightly-report"]
    assert count(db, Run) == 2


def test_same_external_id_returns_the_existing_run_with_200(api, db):
    first = api.post("/runs", json={"job": "nightly-report", "external_id": "build-7"})
    again = api.post("/runs", json={"job": "nightly-report", "external_id": "build-7", "deadline_seconds": 30})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert count(db, Run) == 1
    other_job = api.post("/runs", json={"job": "weekly-report", "external_id": "build-7"})
    assert other_job.status_code == 201 and other_job.json["id"] != first.json["id"]


def test_concurrent_retries_of_one_report_store_one_run(app, api, db):
    results = []

    def send():
        client = app.test_client()
        response = client.post("/api/v1/runs", json={"job": "flaky", "external_id": "x-1"},
                               headers={"Authorization": f"Bearer {api.key}"})
        results.append((response.status_code, response.json["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({run_id for _, run_id in results}) == 1
    assert count(db, Run) == 1 and count(db, Job) == 1


@pytest.mark.postgres_too
def test_a_retry_that_a_rule_matches_returns_the_stored_run_and_raises_nothing_more(api, db):
    """The retry's INSERT runs in the transaction the matcher would use: the repeated external
    id must neither fail it nor raise a second alert."""
    db.session.add(Rule(workspace_id=api.get("/me").json["workspace"]["id"], event="run_failed",
                        name="failures", cooldown_seconds=0))
    db.session.commit()
    first = api.post("/runs", json={"job": "flaky", "external_id": "x-2", "status": "failed"})
    again = api.post("/runs", json={"job": "flaky", "external_id": "x-2", "status": "failed"})
    assert (first.status_code, again.status_code) == (201, 200) and again.json == first.json
    assert count(db, Run) == 1 and count(db, Job) == 1 and count(db, Alert) == 1
    assert api.post("/runs", json={"job": "flaky", "external_id": "x-3"}).status_code == 201


def test_deadline_seconds_counts_from_the_start(api):
    body = api.post("/runs", json={"job": "nightly-report", "deadline_seconds": 90}).json
    assert parse(body["deadline_at"]) - parse(body["started_at"]) == timedelta(seconds=90)


def test_deadline_at_is_stored_as_given(api):
    deadline = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    body = api.post("/runs", json={"job": "nightly-report", "deadline_at": deadline.isoformat()}).json
    assert body["deadline_at"] == isoformat(deadline)


def test_job_default_deadline_applies_when_the_report_has_none(api, db):
    api.post("/runs", json={"job": "nightly-report", "status": "succeeded"})
    db.session.scalar(sa.select(Job)).default_deadline_seconds = 600
    db.session.commit()
    body = api.post("/runs", json={"job": "nightly-report"}).json
    assert parse(body["deadline_at"]) - parse(body["started_at"]) == timedelta(seconds=600)


def test_one_shot_failed_report_is_finished_with_its_duration(api):
    response = api.post("/runs", json={"job": "billing-nightly", "status": "failed", "duration_ms": 42_000,
                                       "message": "exit code 3"})
    body = response.json
    assert response.status_code == 201
    assert (body["status"], body["duration_ms"], body["message"]) == ("failed", 42_000, "exit code 3")
    assert parse(body["finished_at"]) - parse(body["started_at"]) == timedelta(seconds=42)


def test_finish_records_outcome_and_measures_duration(api):
    run = api.post("/runs", json={"job": "nightly-report"}).json
    response = api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded", "message": "12 rows"})
    assert response.status_code == 200
    body = response.json
    assert (body["status"], body["message"]) == ("succeeded", "12 rows")
    measured = parse(body["finished_at"]) - parse(body["started_at"])
    assert body["duration_ms"] == int(measured.total_seconds() * 1000)


def test_finish_keeps_the_duration_the_job_measured(api):
    run = api.post("/runs", json={"job": "nightly-report"}).json
    body = api.post(f"/runs/{run['id']}/finish", json={"status": "failed", "duration_ms": 1234}).json
    assert (body["status"], body["duration_ms"]) == ("failed", 1234)


def test_finishing_a_finished_run_is_a_conflict(api):
    run = api.post("/runs", json={"job": "nightly-report"}).json
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"})
    response = api.post(f"/runs/{run['id']}/finish", json={"status": "failed"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert "already finished" in response.json["error"]["message"]
    assert api.get(f"/runs/{run['id']}").json["status"] == "succeeded"


def test_a_timed_out_run_can_still_finish_late(api, db):
    run_id = api.post("/runs", json={"job": "nightly-report", "deadline_seconds": 1}).json["id"]
    timed_out_at = utcnow()
    db.session.get(Run, run_id).timed_out_at = timed_out_at  # as the deadline sweep does
    db.session.commit()
    body = api.post(f"/runs/{run_id}/finish", json={"status": "failed"}).json
    assert body["status"] == "failed" and body["timed_out_at"] == isoformat(timed_out_at)


def test_finish_of_unknown_or_foreign_run_is_404(api, intruder_api):
    assert intruder_api.get("/me").json["workspace"]["id"] != api.get("/me").json["workspace"]["id"]
    foreign = intruder_api.post("/runs", json={"job": "nightly-report"}).json
    for run_id in (foreign["id"], 999_999, "not-a-number"):
        response = api.post(f"/runs/{run_id}/finish", json={"status": "failed"})
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert intruder_api.get(f"/runs/{foreign['id']}").json["status"] == "running"
    assert api.get(f"/runs/{foreign['id']}").status_code == 404


def test_list_runs_filters_and_pages_by_cursor(api, intruder_api):
    intruder_api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    ids = [api.post("/runs", json={"job": "nightly-report", "status": status}).json["id"]
           for status in ("failed", "succeeded", "failed", "running")]
    api.post("/runs", json={"job": "other-job", "status": "failed"})

    first = api.get("/runs?job=nightly-report&status=failed&limit=1").json
    assert [item["id"] for item in first["items"]] == [ids[2]]
    second = api.get(f"/runs?job=nightly-report&status=failed&limit=1&cursor={first['next_cursor']}").json
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    everything = api.get("/runs").json
    assert len(everything["items"]) == 5 and everything["next_cursor"] is None
    assert [item["id"] for item in everything["items"]] == sorted((item["id"] for item in everything["items"]),
                                                                  reverse=True)


def test_list_runs_rejects_bad_filters(api):
    for query in ("status=crashed", "cursor=abc", "limit=0", "limit=lots"):
        response = api.get(f"/runs?{query}")
        assert response.status_code == 400, query
        assert response.json["error"]["code"] == "invalid_filter"


def test_list_jobs_shows_last_run_status(api, intruder_api):
    intruder_api.post("/runs", json={"job": "intruder-job"})
    api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    api.post("/runs", json={"job": "nightly-report", "status": "succeeded"})
    api.post("/runs", json={"job": "weekly-report"})
    body = api.get("/jobs").json
    assert body["next_cursor"] is None
    assert [(item["slug"], item["last_run_status"]) for item in body["items"]] == [
        ("weekly-report", "running"), ("nightly-report", "succeeded")]
    assert set(body["items"][0]) == {"id", "slug", "name", "default_deadline_seconds", "last_run_status",
                                     "schedule", "grace_seconds", "is_paused", "status", "next_expected_at",
                                     "created_at"}
    page = api.get("/jobs?limit=1").json
    assert len(page["items"]) == 1 and page["next_cursor"] is not None


def test_matcher_exception_still_stores_the_run_and_logs(api, db, monkeypatch, caplog):
    # A rule the failed run can match: without one ingestion never consults the matcher.
    db.session.add(Rule(workspace_id=api.get("/me").json["workspace"]["id"], event="run_failed",
                        name="failures", cooldown_seconds=0))
    db.session.commit()

    def broken(run, events, rules=None):
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr(raising, "raise_alerts", broken)
    with caplog.at_level(logging.ERROR, logger="webapp.services.alerting.ingest"):
        response = api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    assert response.status_code == 201
    assert db.session.get(Run, response.json["id"]).status == "failed"
    assert "matcher exploded" in caplog.text

    run_id = api.post("/runs", json={"job": "nightly-report"}).json["id"]
    assert api.post(f"/runs/{run_id}/finish", json={"status": "failed"}).status_code == 200
    assert db.session.get(Run, run_id).status == "failed"


def test_api_requires_a_key(client):
    response = client.post("/api/v1/runs", json={"job": "nightly-report"})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
