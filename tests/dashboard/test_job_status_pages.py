"""What a person sees of schedules and job status: the Jobs list's coloured statuses (down and
late first), the job page's strip of runs and slots, schedule preview and form, and run states
shown truthfully (timed out once past the deadline, metadata on the run)."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import workspace_id_of
from webapp.blueprints.dashboard.jobs import JOBS_PER_PAGE
from webapp.models import AuditEvent, Job, Run
from webapp.services.alerting import sweeps
from webapp.timeutil import utcnow


def row_of(html: str, slug: str) -> str:
    return re.search(rf'<tr data-job="{re.escape(slug)}">.*?</tr>', html, re.S).group(0)


def status_in(html: str) -> str:
    return re.search(r'data-status="([a-z]+)"', html).group(1)


def make_late(db, slug: str, grace_seconds: int = 600) -> None:
    job = db.session.scalar(sa.select(Job).where(Job.slug == slug))
    job.grace_seconds = grace_seconds
    job.expected_at = utcnow() - timedelta(seconds=60)
    job.missing_after = job.expected_at + timedelta(seconds=grace_seconds)
    db.session.commit()


def test_jobs_list_shows_each_status_in_colour_down_and_late_first(client, api, db):
    api.post("/runs", json={"job": "a-fine", "status": "succeeded"})
    api.post("/runs", json={"job": "b-broken", "status": "failed"})
    api.post("/jobs", json={"slug": "c-late", "schedule": {"every_seconds": 3600}})
    api.post("/jobs", json={"slug": "d-new", "schedule": {"every_seconds": 3600}})
    api.post("/jobs", json={"slug": "e-paused", "schedule": {"every_seconds": 3600}, "is_paused": True})
    make_late(db, "c-late")

    html = client.get("/jobs").get_data(as_text=True)
    assert re.findall(r'<tr data-job="([^"]+)">', html) == ["b-broken", "c-late", "a-fine", "d-new", "e-paused"]
    for slug, status in (("a-fine", "up"), ("b-broken", "down"), ("c-late", "late"), ("d-new", "new"),
                         ("e-paused", "paused")):
        assert f'<span class="badge job-{status}" data-status="{status}">{status}</span>' in row_of(html, slug)
    assert "every hour; next expected" in row_of(html, "d-new")
    css = client.get("/static/tocsin.css").get_data(as_text=True)
    assert all(f".badge.job-{status}" in css for status in ("up", "late", "down", "new", "paused"))


@pytest.mark.postgres_too
def test_down_and_late_jobs_come_first_across_pages_not_only_within_one(client, api, db, database_uri):
    workspace_id = workspace_id_of()
    now = utcnow()
    db.session.add_all([Job(workspace_id=workspace_id, slug=f"a-fine-{number:02}", name=f"fine {number}")
                        for number in range(JOBS_PER_PAGE + 5)])
    db.session.commit()
    api.post("/runs", json={"job": "zz-broken", "status": "failed"})
    api.post("/runs", json={"job": "zy-stuck", "status": "running", "deadline_seconds": 1})
    api.post("/jobs", json={"slug": "zx-late", "schedule": {"every_seconds": 3600}})
    make_late(db, "zx-late")
    stuck = db.session.scalar(sa.select(Run).join(Job).where(Job.slug == "zy-stuck"))
    stuck.deadline_at = now - timedelta(seconds=5)  # open past its deadline: timed out, so down
    db.session.commit()

    first_page = re.findall(r'<tr data-job="([^"]+)">', client.get("/jobs").get_data(as_text=True))
    assert first_page[:3] == ["zy-stuck", "zz-broken", "zx-late"]
    assert len(first_page) == JOBS_PER_PAGE
    second_page = re.findall(r'<tr data-job="([^"]+)">', client.get("/jobs?page=2").get_data(as_text=True))
    assert second_page == [f"a-fine-{number:02}" for number in range(JOBS_PER_PAGE - 3, JOBS_PER_PAGE + 5)]


def test_job_page_shows_the_schedule_in_words_and_the_next_expected_time(client, api):
    api.post("/jobs", json={"slug": "nightly-backup", "schedule": {"cron": "*/15 * * * *", "timezone": "Europe/Berlin"},
                            "grace_seconds": 300})
    html = client.get("/jobs/nightly-backup").get_data(as_text=True)
    preview = re.search(r'<dd class="schedule-preview">(.*?)</dd>', html).group(1)
    assert re.fullmatch(r"every 15 minutes; next expected \d\d:(00|15|30|45) CES?T, late after \d\d:(05|20|35|50)",
                        preview), preview
    assert status_in(html) == "new"
    assert 'data-kind="expected"' in html


def test_the_schedule_form_saves_and_redirects_with_the_preview(client, api, db):
    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
    response = client.post("/jobs/nightly-backup/schedule", data={
        "kind": "cron", "cron": "0 2 * * *", "timezone": "Europe/Berlin", "grace_seconds": "600"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/jobs/nightly-backup")
    page = client.get("/jobs/nightly-backup").get_data(as_text=True)
    assert "Schedule saved: every day at 02:00; next expected" in page
    job = db.session.scalar(sa.select(Job))
    assert (job.schedule, job.grace_seconds) == ({"cron": "0 2 * * *", "timezone": "Europe/Berlin"}, 600)
    assert job.missing_after == job.expected_at + timedelta(seconds=600)
    assert db.session.scalar(sa.select(AuditEvent.summary).where(AuditEvent.action == "job.update")) == (
        "Job nightly-backup: schedule every day at 02:00, grace seconds 600")
    assert 'value="0 2 * * *"' in page and 'value="Europe/Berlin"' in page  # the form shows what is saved


def test_the_schedule_form_puts_errors_on_their_fields_and_changes_nothing(client, api, db):
    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
    html = client.post("/jobs/nightly-backup/schedule", data={
        "kind": "cron", "cron": "*/15 * *", "timezone": "Europe/Atlantis", "grace_seconds": "-1"}).get_data(as_text=True)
    for name in ("cron", "timezone", "grace_seconds"):
        field = re.search(rf'<div class="field [^"]*has-error">\s*<label for="{name}">.*?</div>', html, re.S)
        assert field is not None and '<p class="error">' in field.group(0), name
    job = db.session.scalar(sa.select(Job))
    assert (job.schedule, job.grace_seconds) == (None, 300)


def test_pausing_from_the_form_shows_paused(client, api):
    api.post("/jobs", json={"slug": "nightly-backup", "schedule": {"every_seconds": 60}})
    client.post("/jobs/nightly-backup/schedule", data={"kind": "interval", "every_seconds": "60",
                                                       "grace_seconds": "300", "is_paused": "y"})
    html = client.get("/jobs/nightly-backup").get_data(as_text=True)
    assert status_in(html) == "paused" and "every minute; paused: no runs are expected" in html
    assert 'data-kind="expected"' not in html


def test_the_strip_shows_runs_and_missed_slots(app, client, api, db):
    endpoint = api.post("/endpoints", json={"name": "hook", "url": "http://127.0.0.1:9/hook"}).get_json()
    api.post("/rules", json={"name": "missed", "event": "run_missed", "endpoint_ids": [endpoint["id"]]})
    api.post("/jobs", json={"slug": "nightly-backup", "schedule": {"every_seconds": 600}, "grace_seconds": 60})
    api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"})
    twenty_minutes_ago = utcnow() - timedelta(minutes=20)  # the run was then; its next slot has passed
    db.session.execute(sa.update(Run).values(started_at=twenty_minutes_ago, created_at=twenty_minutes_ago,
                                             finished_at=twenty_minutes_ago))
    db.session.execute(sa.update(Job).values(grace_seconds=0, expected_at=twenty_minutes_ago + timedelta(minutes=10),
                                             missing_after=twenty_minutes_ago + timedelta(minutes=10)))
    db.session.commit()
    assert sweeps.sweep_missed_runs(app) == 1

    html = client.get("/jobs/nightly-backup").get_data(as_text=True)
    strip = re.search(r'<span class="strip job-strip"[^>]*>(.*?)</span>\s*<span class="muted">', html, re.S).group(1)
    assert re.findall(r'data-kind="([a-z]+)"', strip) == ["run", "missed", "expected"]
    assert re.search(r'title="missed · expected \d\d:\d\d(:\d\d)? UTC"', strip)
    assert status_in(html) == "down"


def test_a_run_past_its_deadline_shows_as_timed_out_everywhere(client, api, db):
    run = api.post("/runs", json={"job": "nightly-backup", "deadline_seconds": 60}).get_json()
    db.session.execute(sa.update(Run).values(deadline_at=utcnow() - timedelta(seconds=5)))  # not swept yet
    db.session.commit()

    for path in ("/jobs", "/jobs/nightly-backup", "/overview"):
        html = client.get(path).get_data(as_text=True)
        assert '<span class="badge failed">timed out</span>' in html, path
        assert '<span class="badge running">' not in html.replace("badge running\">deadline", ""), path
    jobs_row = row_of(client.get("/jobs").get_data(as_text=True), "nightly-backup")
    assert "timed out: deadline passed" in jobs_row and 'class="failed" title="timed out' in jobs_row
    assert api.get("/jobs/nightly-backup").json["last_run_status"] == "timed out"
    assert api.get(f"/runs/{run['id']}").json["status"] == "running"  # the stored status is unchanged


def test_the_job_page_shows_run_metadata_and_failures_without_a_duration(client, api):
    api.post("/runs", json={"job": "nightly-backup", "status": "failed", "message": "exit code 3",
                            "metadata": {"host": "db-1", "exit_code": 3}})
    html = client.get("/jobs/nightly-backup").get_data(as_text=True)
    assert '<details class="run-metadata"><summary>Metadata</summary>' in html
    assert "&#34;host&#34;: &#34;db-1&#34;" in html or '"host": "db-1"' in html
    runs = re.search(r'<table class="job-runs">.*?</table>', html, re.S).group(0)
    assert '<span class="badge failed">failed</span>' in runs and "0 ms" not in runs
