"""Managing jobs: rename (page and API, the slug stays), delete with its runs and alerts (a
confirm page that says what goes, refused while an alert fires), natural order and search on
the Jobs list (and `q` in the API), and run metadata shown escaped."""
import re

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from tests.support.factories import endpoint_id_via_api, saved_endpoint, workspace_id_of
from webapp.blueprints.dashboard.jobs import JOBS_PER_PAGE
from webapp.models import Alert, AuditEvent, Delivery, DeliveryAttempt, Job, Rule, Run
from webapp.services.delivery import pool


def report(api, job="nightly-report", **body):
    response = api.post("/runs", json={"job": job, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)">', html)


def job_named(db, slug: str) -> Job | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Job).where(Job.slug == slug))


def audit_summaries(db, action: str) -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.summary).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def failing_rule(db, endpoint=None) -> Rule:
    rule = Rule(workspace_id=workspace_id_of(), name="Failures", event="run_failed", severity="critical",
                endpoints=[endpoint] if endpoint else [])
    db.session.add(rule)
    db.session.commit()
    return rule


# --- rename -----------------------------------------------------------------------------------

def test_renaming_on_the_job_page_shows_the_name_everywhere_and_keeps_the_slug(client, api, db):
    failing_rule(db)
    report(api, status="failed", message="exit code 3")
    response = client.post("/jobs/nightly-report/name", data={"rename-name": "  Nightly report (prod)  "})
    assert response.status_code == 302 and response.headers["Location"].endswith("/jobs/nightly-report")

    page = client.get("/jobs/nightly-report").get_data(as_text=True)
    assert "Job renamed to “Nightly report (prod)”." in page
    assert re.search(r"<h1[^>]*>Nightly report \(prod\) <span", page)
    assert '<code class="wrap-anywhere">nightly-report</code>' in page  # the slug, as secondary text
    assert 'value="Nightly report (prod)"' in page

    jobs = client.get("/jobs").get_data(as_text=True)
    assert '>Nightly report (prod)</a>' in jobs and "<code>nightly-report</code>" in jobs
    alerts = client.get("/alerts").get_data(as_text=True)
    assert '>Nightly report (prod)</a>' in alerts
    alert_id = db.session.scalar(sa.select(Alert.id))
    assert '>Nightly report (prod)</a>' in client.get(f"/alerts/{alert_id}").get_data(as_text=True)

    assert job_named(db, "nightly-report").name == "Nightly report (prod)"
    assert audit_summaries(db, "job.update") == ["Job nightly-report: name Nightly report (prod)"]
    changes = db.session.scalar(sa.select(AuditEvent.changes).where(AuditEvent.action == "job.update"))
    assert changes == {"name": ["nightly-report", "Nightly report (prod)"]}  # the audit log shows old → new
    assert report(api, status="succeeded")["job"] == "nightly-report"  # reports still use the slug
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def test_an_empty_name_shows_the_slug_again_and_an_unchanged_one_writes_nothing(client, api, db):
    report(api)
    client.post("/jobs/nightly-report/name", data={"rename-name": "Nightly"})
    client.post("/jobs/nightly-report/name", data={"rename-name": "   "})
    assert job_named(db, "nightly-report").name == "nightly-report"
    page = client.post("/jobs/nightly-report/name", data={"rename-name": ""}, follow_redirects=True)
    assert "Nothing changed." in page.get_data(as_text=True)
    assert len(audit_summaries(db, "job.update")) == 2


def test_a_too_long_name_is_a_form_error_next_to_the_field_and_changes_nothing(client, api, db):
    report(api)
    response = client.post("/jobs/nightly-report/name", data={"rename-name": "x" * 201})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    field = re.search(r'<div class="field\s+has-error">.*?</div>', html, re.S).group(0)
    assert 'id="rename-name"' in field and "Must be 1–200 characters." in field
    assert 'value="' + "x" * 201 + '"' in field  # the input is kept
    assert job_named(db, "nightly-report").name == "nightly-report"


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_renaming_needs_the_forms_csrf_token(client, db):
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/signup").get_data(as_text=True))
    client.post("/signup", data={"email": "owner@example.com", "password": PASSWORD, "confirm": PASSWORD,
                                 "csrf_token": token.group(1)})
    db.session.add(Job(workspace_id=workspace_id_of(), slug="nightly-report", name="nightly-report"))
    db.session.commit()
    assert client.post("/jobs/nightly-report/name", data={"rename-name": "Forged"}).status_code == 400
    page = client.get("/jobs/nightly-report").get_data(as_text=True)
    token = re.search(r'name="rename-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/jobs/nightly-report/name", data={"rename-name": "Real", "rename-csrf_token": token})
    assert response.status_code == 302 and job_named(db, "nightly-report").name == "Real"


def test_renaming_through_the_api_answers_the_job_with_its_name(api, db):
    report(api)
    body = api.patch("/jobs/nightly-report", json={"name": "Nightly"}).get_json()
    assert (body["slug"], body["name"]) == ("nightly-report", "Nightly")
    assert api.get("/jobs/nightly-report").get_json()["name"] == "Nightly"
    assert api.patch("/jobs/nightly-report", json={"name": None}).get_json()["name"] == "nightly-report"
    assert audit_summaries(db, "job.update") == ["Job nightly-report: name Nightly",
                                                 "Job nightly-report: name nightly-report"]


@pytest.mark.parametrize("name", ["", "   ", 42, ["Nightly"], "x" * 201, "bell\x07"])
def test_a_bad_name_through_the_api_is_400_naming_the_field(api, db, name):
    report(api)
    response = api.patch("/jobs/nightly-report", json={"name": name})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and "name" in error["fields"]
    assert job_named(db, "nightly-report").name == "nightly-report"


def test_renaming_an_unknown_or_foreign_job_is_404(client, api, other_api, db):
    report(other_api, "their-job")
    for path in ("/jobs/their-job", "/jobs/no-such-job"):
        response = api.patch(path, json={"name": "Mine now"})
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
        assert client.post(path + "/name", data={"rename-name": "Mine now"}).status_code == 404
    assert job_named(db, "their-job").name == "their-job"


# --- delete -----------------------------------------------------------------------------------

def test_the_confirm_page_says_what_goes_and_posting_deletes_job_runs_and_alerts(client, api, db):
    endpoint = saved_endpoint(workspace_id_of())
    failing_rule(db, endpoint)
    report(api, status="failed", message="exit code 3")
    report(api, status="succeeded")
    report(api, status="running")
    alert = db.session.scalar(sa.select(Alert))
    alert.state = "resolved"
    db.session.execute(sa.update(Delivery).values(status="delivered"))
    delivery_id = db.session.scalar(sa.select(Delivery.id))
    db.session.add(DeliveryAttempt(workspace_id=alert.workspace_id, delivery_id=delivery_id, number=1,
                                   http_status=200, outcome="delivered"))
    db.session.commit()
    deliveries = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery))  # fired, and resolved
    report(api, "other-job", status="succeeded")

    assert 'href="/jobs/nightly-report/delete">Delete job</a>' in client.get("/jobs/nightly-report").get_data(as_text=True)
    confirm = client.get("/jobs/nightly-report/delete").get_data(as_text=True)
    assert "Delete job “nightly-report”?" in confirm
    assert re.search(r'data-count="runs">its 3 runs', confirm)
    assert deliveries == 2 and re.search(rf'data-count="alerts">the 1 alert it raised and the history of\s+their {deliveries} deliveries', confirm)
    assert "the job is created again" in confirm
    assert '<button type="submit" class="danger">' in confirm
    assert job_named(db, "nightly-report") is not None  # a GET deletes nothing

    response = client.post("/jobs/nightly-report/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/jobs")
    after = client.get("/jobs").get_data(as_text=True)
    assert "Job “nightly-report” deleted with 3 runs and 1 alert." in after
    assert listed(after) == ["other-job"]

    assert job_named(db, "nightly-report") is None
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    assert (count(Run), count(Alert), count(Delivery), count(DeliveryAttempt)) == (1, 0, 0, 0)
    assert audit_summaries(db, "job.delete") == ["Job nightly-report deleted with 3 runs and 1 alert"]
    assert client.get("/jobs/nightly-report").status_code == 404


def test_a_job_with_a_firing_alert_is_not_deleted(client, api, db):
    failing_rule(db)
    report(api, status="failed")
    confirm = client.get("/jobs/nightly-report/delete").get_data(as_text=True)
    assert "The job cannot be deleted: 1 alert still firing (resolve it first)." in confirm
    assert '<button type="submit" class="danger">' not in confirm
    assert 'href="/alerts?state=firing&amp;job=nightly-report"' in confirm

    response = client.post("/jobs/nightly-report/delete", follow_redirects=True)
    assert "The job cannot be deleted" in response.get_data(as_text=True)
    api_response = api.delete("/jobs/nightly-report")
    assert api_response.status_code == 409 and api_response.get_json()["error"]["code"] == "conflict"
    assert job_named(db, "nightly-report") is not None and db.session.scalar(sa.select(Alert)) is not None
    assert audit_summaries(db, "job.delete") == []


def test_a_job_whose_resolution_is_still_being_sent_is_not_deleted(api, db):
    failing_rule(db, saved_endpoint(workspace_id_of()))
    report(api, status="failed")
    db.session.scalar(sa.select(Alert)).state = "resolved"  # its deliveries are still pending
    db.session.commit()
    response = api.delete("/jobs/nightly-report")
    assert response.status_code == 409
    assert "1 delivery of its alerts still being sent" in response.get_json()["error"]["message"]


def test_deleting_through_the_api_answers_204_and_a_new_report_creates_the_job_again(api, db):
    report(api, status="succeeded", message="before")
    api.patch("/jobs/nightly-report", json={"name": "Nightly", "schedule": {"every_seconds": 3600}})
    response = api.delete("/jobs/nightly-report")
    assert response.status_code == 204 and response.get_data() == b""
    assert api.get("/jobs/nightly-report").status_code == 404
    assert api.delete("/jobs/nightly-report").status_code == 404

    again = report(api, status="succeeded", message="after")
    job = api.get("/jobs/nightly-report").get_json()
    assert (job["name"], job["schedule"], job["status"]) == ("nightly-report", None, "up")
    assert [run["message"] for run in api.get("/runs?job=nightly-report").get_json()["items"]] == ["after"]
    assert again["job"] == "nightly-report"
    assert audit_summaries(db, "job.delete") == ["Job nightly-report deleted with 1 run and 0 alerts"]
    assert audit_summaries(db, "job.create")[-1] == "Job nightly-report created by its first run report"


@pytest.mark.postgres_too
@pytest.mark.parametrize("has_rule", [False, True], ids=["run-only", "with-a-rule"])
def test_a_report_that_read_the_job_just_before_its_delete_creates_it_again(api, db, monkeypatch, has_rule):
    """The race of a report with a delete (or a process's cache entry older than the delete's
    notice): the run's INSERT names a job that is gone. The report still lands, as a first one."""
    from webapp.services import api_cache
    from webapp.services.alerting import ingest

    if has_rule:
        made = api.post("/rules", json={"name": "fails", "event": "run_failed", "job_filter": "*",
                                        "endpoint_ids": [endpoint_id_via_api(api)], "severity": "critical"})
        assert made.status_code == 201, made.get_json()
    report(api, status="succeeded")
    workspace_id = db.session.scalar(sa.select(Job.workspace_id))
    stale = ingest._job_by_slug(db.session.connection(), workspace_id, "nightly-report")
    db.session.rollback()
    assert api.delete("/jobs/nightly-report").status_code == 204

    lookups = []
    real_cached = api_cache.cached

    def read_before_the_delete(key, load):
        if key[0] != "job":
            return real_cached(key, load)
        lookups.append(key)
        return stale if len(lookups) == 1 else real_cached(key, load)

    monkeypatch.setattr(api_cache, "cached", read_before_the_delete)
    response = api.post("/runs", json={"job": "nightly-report", "status": "failed", "message": "after"})
    assert response.status_code == 201, response.get_json()
    assert len(lookups) == 2  # read again after the refused INSERT
    job = api.get("/jobs/nightly-report").get_json()
    assert job["status"] == "down" and job["id"] != str(stale.id)
    assert [run["message"] for run in api.get("/runs?job=nightly-report").get_json()["items"]] == ["after"]
    assert pool.wait_idle(10)  # the rule's delivery is attempted before the test's schema is dropped


def test_another_workspaces_job_cannot_be_deleted(client, api, other_api, db):
    report(other_api, "their-job", status="succeeded")
    assert client.get("/jobs/their-job/delete").status_code == 404
    assert client.post("/jobs/their-job/delete").status_code == 404
    response = api.delete("/jobs/their-job")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert job_named(db, "their-job") is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Run)) == 1


def test_deleting_one_workspaces_job_leaves_the_same_slug_elsewhere(client, api, other_api, db):
    report(api, status="succeeded")
    report(other_api, status="succeeded")
    assert client.post("/jobs/nightly-report/delete").status_code == 302
    assert other_api.get("/jobs/nightly-report").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Run)) == 1


# --- natural order and search -------------------------------------------------------------------

def test_the_jobs_list_is_in_natural_order(client, api):
    for slug in ("job-100", "job-10", "Job-9", "job-2", "backup", "job-1a", "job-1"):
        report(api, slug.lower(), status="succeeded")
    assert listed(client.get("/jobs").get_data(as_text=True)) == [
        "backup", "job-1", "job-1a", "job-2", "job-9", "job-10", "job-100"]


def test_the_natural_order_follows_the_name_people_see_and_holds_across_pages(client, api, db):
    workspace_id = workspace_id_of()
    db.session.add_all([Job(workspace_id=workspace_id, slug=f"n{number}", name=f"job-{number}")
                        for number in range(1, JOBS_PER_PAGE + 6)])
    db.session.add(Job(workspace_id=workspace_id, slug="zzz", name="A first"))
    db.session.commit()
    first = listed(client.get("/jobs").get_data(as_text=True))
    second = listed(client.get("/jobs?page=2").get_data(as_text=True))
    assert first[:4] == ["zzz", "n1", "n2", "n3"] and len(first) == JOBS_PER_PAGE
    assert second == [f"n{number}" for number in range(JOBS_PER_PAGE, JOBS_PER_PAGE + 6)]


def test_down_jobs_still_come_first(client, api):
    report(api, "job-2", status="succeeded")
    report(api, "job-10", status="failed")
    report(api, "job-1", status="succeeded")
    assert listed(client.get("/jobs").get_data(as_text=True)) == ["job-10", "job-1", "job-2"]


def test_searching_filters_by_slug_or_name_ignoring_case_and_keeps_the_query(client, api, db):
    for slug in ("billing-nightly", "billing-hourly", "cleanup", "reports"):
        report(api, slug, status="succeeded")
    api.patch("/jobs/reports", json={"name": "Monthly BILLING report"})

    html = client.get("/jobs?q=Billing").get_data(as_text=True)
    assert listed(html) == ["billing-hourly", "billing-nightly", "reports"]
    assert '<label for="job-search">Search jobs</label>' in html
    assert 'name="q" value="Billing"' in html
    assert "3 jobs match “Billing”." in html
    assert listed(client.get("/jobs?q=clean").get_data(as_text=True)) == ["cleanup"]
    assert listed(client.get("/jobs?q=+").get_data(as_text=True)) == listed(client.get("/jobs").get_data(as_text=True))

    nothing = client.get("/jobs?q=%25_").get_data(as_text=True)  # LIKE wildcards match only themselves
    assert listed(nothing) == [] and "No job matches “%_”." in nothing and "No jobs yet" not in nothing
    escaped = client.get("/jobs?q=<script>").get_data(as_text=True)
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped


def test_search_results_page_with_the_query_kept(client, api, db):
    workspace_id = workspace_id_of()
    db.session.add_all([Job(workspace_id=workspace_id, slug=f"etl-{number}", name=f"etl-{number}")
                        for number in range(JOBS_PER_PAGE + 2)] + [Job(workspace_id=workspace_id, slug="other", name="other")])
    db.session.commit()
    html = client.get("/jobs?q=etl").get_data(as_text=True)
    assert 'href="/jobs?page=2&amp;q=etl"' in html or 'href="/jobs?q=etl&amp;page=2"' in html
    assert listed(client.get("/jobs?q=etl&page=2").get_data(as_text=True)) == [
        f"etl-{number}" for number in range(JOBS_PER_PAGE, JOBS_PER_PAGE + 2)]


def test_the_api_list_accepts_q(api, other_api):
    for slug in ("billing-nightly", "cleanup"):
        report(api, slug)
    report(other_api, "billing-theirs")
    api.patch("/jobs/cleanup", json={"name": "Billing cleanup"})
    slugs = {job["slug"] for job in api.get("/jobs?q=BILL").get_json()["items"]}
    assert slugs == {"billing-nightly", "cleanup"}
    assert api.get("/jobs?q=nothing-like-it").get_json() == {"items": [], "next_cursor": None}
    assert len(api.get("/jobs").get_json()["items"]) == 2


# --- run metadata -----------------------------------------------------------------------------------

def test_run_metadata_is_shown_pretty_printed_and_escaped_on_the_job_and_alert_pages(client, api, db):
    failing_rule(db)
    report(api, status="failed", metadata={"host": "db-1", "note": "<script>alert(1)</script>", "city": "Zürich",
                                           "nested": {"exit_code": 3}})
    page = client.get("/jobs/nightly-report").get_data(as_text=True)
    shown = re.search(r'<details class="run-metadata"><summary>Metadata</summary><pre class="wrap-anywhere"[^>]*>(.*?)</pre>',
                      page, re.S).group(1)
    assert "&#34;host&#34;: &#34;db-1&#34;" in shown and "Zürich" in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in page
    assert '\n  &#34;nested&#34;: {\n    &#34;exit_code&#34;: 3\n  }' in shown  # indented

    alert_id = db.session.scalar(sa.select(Alert.id))
    detail = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert" not in detail


def test_a_run_without_metadata_shows_no_metadata_box(client, api):
    report(api, status="succeeded")
    assert '<details class="run-metadata">' not in client.get("/jobs/nightly-report").get_data(as_text=True)


def test_the_jobs_tables_scroll_inside_their_region(client, api):
    report(api, status="succeeded")
    for path in ("/jobs", "/jobs/nightly-report"):
        html = client.get(path).get_data(as_text=True)
        tables = re.findall(r"<table", html)
        regions = re.findall(r'<div class="table-scroll" role="region" tabindex="0" aria-label="[^"]+">\s*<table', html)
        assert tables and len(regions) == len(tables), path
