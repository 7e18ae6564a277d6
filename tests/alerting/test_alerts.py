"""The Alerts page and /api/v1/alerts: newest first, filters, each alert's delivery statuses,
repeats merged by the cooldown, Acknowledge (who and when, audited) — one workspace at a time."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import job_of, workspace_id_of
from webapp.models import Alert, AuditEvent, User
from webapp.services.delivery import pool
from webapp.timeutil import isoformat, utcnow


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


def make_alert(db, workspace_id, message, *, type="run_failed", severity="critical", job="nightly-report",
               age=timedelta(0), **fields) -> Alert:
    """An alert row as the matcher writes it (for list tests that need exact types and times)."""
    created = utcnow() - age
    alert = Alert(workspace_id=workspace_id, job_id=job_of(workspace_id, job).id, type=type,
                  severity=severity, message=message, created_at=created, last_seen_at=created, **fields)
    db.session.add(alert)
    db.session.commit()
    return alert


def messages_on_page(html: str) -> list[str]:
    """The message of each alert row, in page order (the link in the row's second cell)."""
    return re.findall(r'<td>\s*<a href="/alerts/\d+">([^<]*)</a><br>\s*<small class="muted">[A-Z]', html)


def alert_row(html: str, alert_id: int) -> str:
    return re.search(rf'<tr data-alert-id="{alert_id}">.*?</tr>', html, re.S).group(0)


def alert_through_the_api(api, db, receiver, **rule_fields) -> Alert:
    """The real path: an endpoint on the receiver, a rule, a failed run, the first attempt made."""
    endpoint = api.post("/endpoints", json={"name": "Receiver", "url": receiver.url()}).get_json()
    rule = {"name": "Nightly failures", "event": "run_failed", "severity": "critical",
            "endpoint_ids": [endpoint["id"]], "cooldown_seconds": 0, **rule_fields}
    assert api.post("/rules", json=rule).status_code == 201
    assert api.post("/runs", json={"job": "nightly-report", "status": "failed", "duration_ms": 42_000,
                                   "message": "exit code 3"}).status_code == 201
    assert pool.wait_idle(10)
    db.session.expire_all()
    return db.session.scalars(sa.select(Alert).order_by(Alert.id.desc())).first()


# --- the page --------------------------------------------------------------------------------

def test_alerts_page_lists_newest_first(client, api, db):
    workspace_id = workspace_id_of()
    for number, age in enumerate((3, 2, 1)):
        make_alert(db, workspace_id, f"alert {number}", age=timedelta(hours=age))
    html = client.get("/alerts").get_data(as_text=True)
    assert messages_on_page(html) == ["alert 2", "alert 1", "alert 0"]
    assert "3 alerts." in html


def test_empty_alerts_page_says_where_alerts_come_from(client, api):
    assert "No alerts yet" in client.get("/alerts").get_data(as_text=True)


def test_alert_row_shows_its_delivery_status_job_and_rule(client, api, db, receiver):
    alert = alert_through_the_api(api, db, receiver)
    row = alert_row(client.get("/alerts").get_data(as_text=True), alert.id)
    assert "nightly-report failed after 42 s: exit code 3" in row
    assert 'data-delivery-status="delivered"' in row and "Receiver: delivered" in row
    assert 'href="/jobs/nightly-report"' in row and "Nightly failures" in row
    assert "critical" in row and "Acknowledge" in row


def test_a_failing_delivery_shows_dead_when_its_attempts_are_used_up(client, api, db):
    endpoint = api.post("/endpoints", json={"name": "Closed port", "url": "http://127.0.0.1:9/hook"}).get_json()
    api.post("/rules", json={"name": "One try", "event": "run_failed", "endpoint_ids": [endpoint["id"]],
                             "max_attempts": 1})
    api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    assert pool.wait_idle(10)
    db.session.expire_all()
    alert = db.session.scalar(sa.select(Alert))
    row = alert_row(client.get("/alerts").get_data(as_text=True), alert.id)
    assert 'data-delivery-status="dead"' in row and "Closed port: failed" in row


def test_alert_without_endpoint_says_it_was_not_sent(client, api, db):
    alert = make_alert(db, workspace_id_of(), "nobody listening")
    assert "not sent (no endpoint)" in alert_row(client.get("/alerts").get_data(as_text=True), alert.id)


def test_cooldown_repeats_show_their_count_and_last_seen(client, api, db, receiver):
    alert_through_the_api(api, db, receiver, cooldown_seconds=300)
    api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    api.post("/runs", json={"job": "nightly-report", "status": "failed"})
    db.session.expire_all()
    [alert] = db.session.scalars(sa.select(Alert)).all()
    assert alert.repeat_count == 3
    row = alert_row(client.get("/alerts").get_data(as_text=True), alert.id)
    assert re.search(r'<span class="repeats">×3, last seen (<time[^>]*>)?[^<]+(</time>)?</span>', row)
    detail = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "×3, last seen" in detail
    assert len(receiver.requests) == 1  # repeats are counted, not sent
    assert api.get(f"/alerts/{alert.id}").get_json()["repeat_count"] == 3


def test_filters_by_type_severity_job_and_acknowledged(client, api, db):
    workspace_id = workspace_id_of()
    user_id = db.session.scalar(sa.select(User.id))
    make_alert(db, workspace_id, "failed billing", job="billing")
    make_alert(db, workspace_id, "slow nightly", type="run_slow", severity="warning")
    make_alert(db, workspace_id, "seen already", severity="info", acknowledged_at=utcnow(),
               acknowledged_by_id=user_id)

    def shown(query):
        return sorted(messages_on_page(client.get(f"/alerts?{query}").get_data(as_text=True)))

    assert shown("alert_type=run_slow") == ["slow nightly"]
    assert shown("severity=critical") == ["failed billing"]
    assert shown("job=billing") == ["failed billing"]
    assert shown("acknowledged=yes") == ["seen already"]
    assert shown("acknowledged=no") == ["failed billing", "slow nightly"]
    assert shown("alert_type=run_failed&severity=info") == ["seen already"]
    assert shown("acknowledged=all") == ["failed billing", "seen already", "slow nightly"]
    html = client.get("/alerts?severity=warning").get_data(as_text=True)
    assert '<option value="warning" selected>' in html and "Clear filters" in html


def test_since_filter_takes_a_date_or_a_time(client, api, db):
    workspace_id = workspace_id_of()
    make_alert(db, workspace_id, "last week", age=timedelta(days=7))
    make_alert(db, workspace_id, "an hour ago", age=timedelta(hours=1))
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    two_hours_ago = isoformat(utcnow() - timedelta(hours=2))
    for since in (yesterday, two_hours_ago):
        assert messages_on_page(client.get(f"/alerts?since={since}").get_data(as_text=True)) == ["an hour ago"]


def test_a_bad_filter_is_explained_and_all_alerts_shown(client, api, db):
    make_alert(db, workspace_id_of(), "still listed")
    html = client.get("/alerts?alert_type=run_exploded").get_data(as_text=True)
    assert "Unknown alert type &#39;run_exploded&#39;" in html and "Showing all alerts instead." in html
    assert messages_on_page(html) == ["still listed"]
    assert "Showing all alerts instead." in client.get("/alerts?since=yesterday").get_data(as_text=True)


def test_acknowledge_records_who_and_when_and_is_audited(client, api, db):
    alert = make_alert(db, workspace_id_of(), "wake up")
    response = client.post(f"/alerts/{alert.id}/acknowledge", data={"next": "/alerts?acknowledged=no"})
    assert response.headers["Location"] == "/alerts?acknowledged=no"
    db.session.expire_all()
    user = db.session.scalar(sa.select(User))
    assert alert.acknowledged_by_id == user.id
    assert utcnow() - alert.acknowledged_at < timedelta(minutes=1)
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "alert.acknowledge")).all()
    assert (event.object_type, event.object_id, event.user_id, event.client_ip) == (
        "alert", str(alert.id), user.id, "127.0.0.1")
    assert "wake up" in event.summary

    row = alert_row(client.get("/alerts").get_data(as_text=True), alert.id)
    assert "acknowledged by owner@example.com at" in row and "<button" not in row
    assert messages_on_page(client.get("/alerts?acknowledged=no").get_data(as_text=True)) == []


def test_acknowledging_twice_keeps_the_first_and_audits_once(client, api, db):
    alert = make_alert(db, workspace_id_of(), "wake up")
    client.post(f"/alerts/{alert.id}/acknowledge")
    db.session.expire_all()
    first = alert.acknowledged_at
    response = client.post(f"/alerts/{alert.id}/acknowledge", follow_redirects=True)
    assert "already acknowledged" in response.get_data(as_text=True)
    db.session.expire_all()
    assert alert.acknowledged_at == first
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "alert.acknowledge")) == 1


def test_acknowledge_never_redirects_off_the_alert_pages(client, api, db):
    alert = make_alert(db, workspace_id_of(), "wake up")
    response = client.post(f"/alerts/{alert.id}/acknowledge", data={"next": "//evil.example/alerts"})
    assert response.headers["Location"] == f"/alerts/{alert.id}"


def test_alert_detail_shows_the_run_and_its_deliveries(client, api, db, receiver):
    alert = alert_through_the_api(api, db, receiver)
    html = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "nightly-report failed after 42 s: exit code 3" in html
    assert f"#{alert.run_id}" in html and "exit code 3" in html
    assert "Receiver" in html and "Acknowledge" in html


def test_another_workspaces_alerts_are_invisible_and_404(client, api, other_api, db):
    theirs = make_alert(db, workspace_id_of("intruder@example.com"), "their secret alert")
    assert "their secret alert" not in client.get("/alerts").get_data(as_text=True)
    assert client.get(f"/alerts/{theirs.id}").status_code == 404
    assert client.post(f"/alerts/{theirs.id}/acknowledge").status_code == 404
    assert api.get(f"/alerts/{theirs.id}").status_code == 404
    assert api.post(f"/alerts/{theirs.id}/acknowledge").status_code == 404
    assert api.get("/alerts").get_json()["items"] == []
    db.session.expire_all()
    assert theirs.acknowledged_at is None


def test_alerts_page_needs_a_login(app):
    response = app.test_client().get("/alerts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the API ---------------------------------------------------------------------------------

def test_api_lists_alerts_newest_first_with_deliveries(api, db, receiver):
    alert = alert_through_the_api(api, db, receiver)
    body = api.get("/alerts").get_json()
    [item] = body["items"]
    assert (body["total"], body["next_offset"]) == (1, None)
    assert item["id"] == alert.id and item["type"] == "run_failed" and item["severity"] == "critical"
    assert item["message"] == "nightly-report failed after 42 s: exit code 3"
    assert item["job"] == "nightly-report" and item["run_id"] == alert.run_id and item["rule_id"] == alert.rule_id
    assert item["acknowledged_at"] is None and item["acknowledged_by"] is None
    assert [delivery["status"] for delivery in item["deliveries"]] == ["delivered"]


def test_api_filters_and_pages_with_limit_and_offset(api, db):
    workspace_id = workspace_id_of()
    make_alert(db, workspace_id, "old", age=timedelta(days=3), severity="info")
    for number in range(3):
        make_alert(db, workspace_id, f"slow {number}", type="run_slow", severity="warning")

    def messages(query):
        return [item["message"] for item in api.get(f"/alerts?{query}").get_json()["items"]]

    assert messages("alert_type=run_slow") == ["slow 2", "slow 1", "slow 0"]
    assert messages("severity=info") == ["old"]
    assert messages(f"since={(utcnow() - timedelta(days=1)).date().isoformat()}") == ["slow 2", "slow 1", "slow 0"]
    first = api.get("/alerts?limit=2").get_json()
    assert [item["message"] for item in first["items"]] == ["slow 2", "slow 1"]
    assert (first["total"], first["next_offset"]) == (4, 2)
    second = api.get(f"/alerts?limit=2&offset={first['next_offset']}").get_json()
    assert [item["message"] for item in second["items"]] == ["slow 0", "old"]
    assert second["next_offset"] is None


@pytest.mark.parametrize("query", ["alert_type=run_exploded", "severity=doom", "since=yesterday",
                                   "limit=0", "limit=abc", "offset=-1", "offset=x", "acknowledged=maybe"])
def test_api_refuses_an_unknown_filter_with_invalid_filter(api, query):
    response = api.get(f"/alerts?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_filter"
    assert query.split("=")[0] in error["fields"]


def test_api_acknowledge_records_the_key_owner_and_is_idempotent(api, db):
    alert = make_alert(db, workspace_id_of(), "wake up")
    response = api.post(f"/alerts/{alert.id}/acknowledge")
    assert response.status_code == 200
    body = response.get_json()
    assert body["acknowledged_by"] == "owner@example.com" and body["acknowledged_at"]
    again = api.post(f"/alerts/{alert.id}/acknowledge").get_json()
    assert again["acknowledged_at"] == body["acknowledged_at"]
    assert [event.action for event in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.object_type == "alert"))] == ["alert.acknowledge"]
    assert api.get("/alerts?acknowledged=no").get_json()["items"] == []
    assert api.post("/alerts/999999/acknowledge").status_code == 404
