"""The Jobs pages: every job at a glance (last status, last 20 runs as squares, success rate,
open runs and their deadlines) and one job's paginated runs and the alerts it raised."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.blueprints.dashboard.jobs import RUNS_PER_PAGE
from webapp.models import Job, Rule, Run, User
from webapp.services.alerting import job_runs as jobs_service
from webapp.services.alerting.job_runs import OPEN_RUNS_SHOWN, STRIP_LENGTH
from webapp.timeutil import utcnow


def report(api, job="nightly-report", **body):
    response = api.post("/runs", json={"job": job, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def job_row(html: str, slug: str) -> str:
    return re.search(rf'<tr data-job="{re.escape(slug)}">.*?</tr>', html, re.S).group(0)


def strip_squares(row: str) -> list[str]:
    strip = re.search(r'<span class="strip"[^>]*>(.*?)</span>\s*</td>', row, re.S).group(1)
    return re.findall(r'<span class="([a-z]+)" title=', strip)


def test_empty_jobs_page_shows_how_to_report_a_first_run(client, api):
    html = client.get("/jobs").get_data(as_text=True)
    assert "No jobs yet" in html
    assert "http://tocsin.test/api/v1/runs" in html


def test_jobs_page_lists_each_job_with_its_last_run_status(client, api):
    report(api, "billing-nightly", status="succeeded")
    report(api, "billing-nightly", status="failed", message="exit code 3")
    report(api, "cleanup", status="succeeded")
    html = client.get("/jobs").get_data(as_text=True)
    assert re.findall(r'<tr data-job="([^"]+)">', html) == ["billing-nightly", "cleanup"]
    assert '<span class="badge failed">failed</span>' in job_row(html, "billing-nightly")
    assert '<span class="badge succeeded">succeeded</span>' in job_row(html, "cleanup")
    assert 'href="/jobs/billing-nightly"' in html


def test_strip_shows_the_last_twenty_runs_oldest_first_and_the_success_rate(client, api):
    statuses = ["failed"] * 5 + ["succeeded"] * 15 + ["failed", "succeeded", "succeeded", "failed"]
    for status in statuses:
        report(api, status=status)
    report(api)  # still running
    row = job_row(client.get("/jobs").get_data(as_text=True), "nightly-report")

    last_twenty = (statuses + ["running"])[-20:]
    assert strip_squares(row) == last_twenty
    assert 'aria-label="Last 20 runs: 17 succeeded, 2 failed, 1 running"' in row
    finished = [status for status in last_twenty if status != "running"]
    assert f"<td>{round(100 * finished.count('succeeded') / len(finished))} %</td>" in row  # 89 %


def test_a_job_without_finished_runs_has_no_success_rate_yet(client, api):
    report(api)
    row = job_row(client.get("/jobs").get_data(as_text=True), "nightly-report")
    assert strip_squares(row) == ["running"]
    assert '<td><span class="muted">—</span></td>' in row


def test_open_runs_show_their_deadline(client, api):
    with_deadline = report(api, external_id="gha-1", deadline_seconds=3600)
    without = report(api, external_id="gha-2")
    report(api, status="succeeded")
    row = job_row(client.get("/jobs").get_data(as_text=True), "nightly-report")
    assert f"Run #{with_deadline['id']} <code>gha-1</code>" in row
    assert f"Run #{without['id']} <code>gha-2</code>" in row
    deadline = utcnow() + timedelta(hours=1)
    assert re.search(rf"deadline (<time[^>]*>)?[^<]+(</time>)? <span class=\"muted\">\((<time[^>]*>)?{deadline:%Y-%m-%d} \d\d:\d\d", row)
    assert "no deadline" in row


def test_timed_out_open_run_says_its_deadline_passed(client, api, db):
    run = report(api, deadline_seconds=60)
    row = db.session.get(Run, run["id"])
    row.timed_out_at = utcnow()  # what the engine's deadline sweep does
    db.session.commit()
    html = client.get("/jobs").get_data(as_text=True)
    assert "deadline passed" in job_row(html, "nightly-report")
    assert '<span class="badge failed">timed out</span>' in job_row(html, "nightly-report")


def test_a_run_stuck_open_behind_many_finished_runs_is_still_listed_with_its_deadline(client, api, db):
    stuck = report(api, external_id="stuck-1", deadline_seconds=3600)
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    job = db.session.scalar(sa.select(Job))
    start = utcnow()
    db.session.execute(sa.insert(Run), [
        {"workspace_id": workspace_id, "job_id": job.id, "status": "succeeded",
         "started_at": start + timedelta(seconds=number), "finished_at": start + timedelta(seconds=number)}
        for number in range(1, STRIP_LENGTH * 2)])
    db.session.commit()

    row = job_row(client.get("/jobs").get_data(as_text=True), "nightly-report")
    assert "running" not in strip_squares(row)  # far older than the strip's last 20 runs
    assert f"Run #{stuck['id']} <code>stuck-1</code>" in row
    deadline = utcnow() + timedelta(hours=1)
    assert re.search(rf"deadline (<time[^>]*>)?[^<]+(</time>)? <span class=\"muted\">\((<time[^>]*>)?{deadline:%Y-%m-%d} \d\d:\d\d", row)


def test_open_runs_beyond_the_shown_number_are_counted_newest_shown(client, api, db):
    report(api, status="succeeded")
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    job = db.session.scalar(sa.select(Job))
    start = utcnow() - timedelta(days=1)
    db.session.execute(sa.insert(Run), [
        {"workspace_id": workspace_id, "job_id": job.id, "status": "running", "external_id": f"open-{number:03d}",
         "started_at": start + timedelta(seconds=number)} for number in range(OPEN_RUNS_SHOWN + 7)])
    db.session.commit()

    row = job_row(client.get("/jobs").get_data(as_text=True), "nightly-report")
    shown = re.findall(r"<code>(open-\d+)</code>", row)
    assert shown == [f"open-{number:03d}" for number in reversed(range(7, OPEN_RUNS_SHOWN + 7))]
    assert "and 7 more open" in row and 'href="/jobs/nightly-report"' in row


def test_open_runs_query_reads_the_partial_index_of_open_runs(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    captured = []
    listener = lambda *args: captured.append((args[2], args[3]))  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        jobs_service.open_runs([1, 2])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    (sql, parameters), = captured
    plan = " | ".join(row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql,
                                                                                   parameters))
    index_read = "USING COVERING INDEX ix_run_open_job_id_status_started_at (job_id=? AND status=?)"
    assert plan.count(index_read) == 2, plan
    assert "SCAN run" not in plan, plan


def test_job_page_lists_its_runs_newest_first_paginated(client, api, db):
    first = report(api, status="failed", message="the oldest run", duration_ms=42_000)
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    job = db.session.scalar(sa.select(Job))
    start = utcnow()
    db.session.execute(sa.insert(Run), [
        {"workspace_id": workspace_id, "job_id": job.id, "status": "succeeded", "message": f"bulk {number}",
         "started_at": start + timedelta(seconds=number), "finished_at": start + timedelta(seconds=number)}
        for number in range(RUNS_PER_PAGE)])
    db.session.commit()

    page_one = client.get("/jobs/nightly-report").get_data(as_text=True)
    assert f"{RUNS_PER_PAGE + 1}</dd>" in page_one  # the run count
    messages = re.findall(r"<td>(bulk \d+|the oldest run)</td>", page_one)
    assert messages[:2] == [f"bulk {RUNS_PER_PAGE - 1}", f"bulk {RUNS_PER_PAGE - 2}"]
    assert len(messages) == RUNS_PER_PAGE and "the oldest run" not in messages
    assert "Page 1 of 2" in page_one and 'href="/jobs/nightly-report?page=2"' in page_one

    page_two = client.get("/jobs/nightly-report?page=2").get_data(as_text=True)
    assert re.findall(r"<td>(bulk \d+|the oldest run)</td>", page_two) == ["the oldest run"]
    assert f"#{first['id']}" in page_two and "42 s" in page_two


def test_job_page_lists_the_alerts_the_job_raised(client, api, db):
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    db.session.add(Rule(workspace_id=workspace_id, name="Failures", event="run_failed", severity="critical",
                        cooldown_seconds=300))
    db.session.commit()
    report(api, status="failed", message="exit code 3", duration_ms=42_000)
    report(api, status="failed")  # within the cooldown: a repeat of the same alert
    report(api, "other-job", status="failed", message="not this job")

    html = client.get("/jobs/nightly-report").get_data(as_text=True)
    alerts = re.search(r'<table class="job-alerts">.*?</table>', html, re.S).group(0)
    assert "nightly-report failed after 42 s: exit code 3" in alerts
    assert "2× (last" in alerts and "not yet" in alerts
    assert "not this job" not in alerts


def test_job_without_alerts_says_so(client, api):
    report(api, status="succeeded")
    assert "No alerts for this job." in client.get("/jobs/nightly-report").get_data(as_text=True)


def test_another_workspaces_job_is_404_and_a_shared_slug_shows_only_mine(client, api, other_api):
    report(other_api, "their-job", status="failed", message="their failure")
    report(other_api, "nightly-report", status="failed", message="their nightly")
    report(api, "nightly-report", status="succeeded", message="my nightly")

    assert client.get("/jobs/their-job").status_code == 404
    assert client.get("/jobs/no-such-job").status_code == 404
    html = client.get("/jobs").get_data(as_text=True)
    assert "their-job" not in html
    assert strip_squares(job_row(html, "nightly-report")) == ["succeeded"]
    mine = client.get("/jobs/nightly-report").get_data(as_text=True)
    assert "my nightly" in mine and "their nightly" not in mine


def test_jobs_pages_need_a_login(app):
    for path in ("/jobs", "/jobs/nightly-report"):
        response = app.test_client().get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
