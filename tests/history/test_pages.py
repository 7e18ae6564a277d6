"""Settings → Alerts → Deliveries: filters, keyset pagination, the delivery page, Redeliver and
"Retry all dead since …" (blueprints/settings/deliveries.py, services/history.py). Rows are inserted directly; no sending happens."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from tests.support.accounts import AuthActions
from tests.support.app import make_app
from tests.support.factories import (
    saved_alert,
    saved_attempt,
    saved_deliveries,
    saved_delivery,
    saved_endpoint,
    saved_rule,
    workspace_id_of,
)
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery
from webapp.services import history
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


def row_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'data-delivery-id="(\d+)"', html)]


@pytest.fixture(autouse=True)
def fresh_identity_per_request(app):
    """The `app` fixture keeps one app context pushed, so Flask's `g` (Flask-Login's cached
    user, the API's workspace) would leak from one test client's request into the next client's:
    start every request without them, as a real server does."""
    @app.before_request
    def forget_previous_identity():
        for name in ("_login_user", "workspace_id", "api_user_id", "api_key_id"):
            g.pop(name, None)

    yield
    pool.wait_idle()  # a redeliver's send finishes before the database goes away


@pytest.fixture
def owner(auth):
    auth.signup()
    return workspace_id_of()


@pytest.fixture
def endpoint(owner):
    return saved_endpoint(owner)


# --- list and filters ------------------------------------------------------------------------


def test_history_row_shows_time_alert_endpoint_status_attempts_http_status_latency_and_next_attempt(client, owner, endpoint):
    alert = saved_alert(owner, "db-backup failed: disk full")
    saved_delivery(endpoint, alert=alert, status="pending", attempt_count=2, max_attempts=8, last_http_status=503,
                  last_duration_ms=137, next_attempt_at=utcnow() + timedelta(minutes=2))
    html = client.get("/settings/alerts/deliveries").get_data(as_text=True)
    assert "db-backup failed: disk full" in html
    assert "Ops hook" in html
    assert 'class="badge retrying">Retrying<' in html
    assert "attempt 2 of 8" in html and "503" in html and "137 ms" in html
    assert "in 1 min" in html or "in 2 min" in html  # the next attempt time


def test_test_sends_show_test_instead_of_an_alert(client, endpoint):
    saved_delivery(endpoint, is_test=True)
    html = client.get("/settings/alerts/deliveries").get_data(as_text=True)
    assert '<span class="muted">test</span>' in html


def test_filter_by_endpoint_lists_deleted_endpoints_labelled(client, owner, endpoint):
    gone = saved_endpoint(owner, "Old hook", deleted_at=utcnow())
    kept = saved_delivery(endpoint)
    old = saved_delivery(gone)
    html = client.get("/settings/alerts/deliveries").get_data(as_text=True)
    assert "Old hook (deleted)" in html
    assert row_ids(client.get(f"/settings/alerts/deliveries?endpoint_id={gone.id}").get_data(as_text=True)) == [old.id]
    assert row_ids(client.get(f"/settings/alerts/deliveries?endpoint_id={endpoint.id}").get_data(as_text=True)) == [kept.id]


def test_rule_filter_lists_only_that_rules_deliveries(client, owner, endpoint):
    rule, other_rule = saved_rule(owner), saved_rule(owner, "Slow runs")
    mine = saved_delivery(endpoint, rule=rule)
    saved_delivery(endpoint, rule=other_rule)
    saved_delivery(endpoint)
    html = client.get(f"/settings/alerts/deliveries?rule_id={rule.id}").get_data(as_text=True)
    assert row_ids(html) == [mine.id]


@pytest.mark.parametrize("ui_status, stored, attempts", [
    ("pending", "pending", 0), ("sending", "sending", 0), ("failed-retrying", "pending", 1),
    ("failed-retrying", "sending", 2), ("delivered", "delivered", 1), ("dead", "dead", 8)])
def test_status_filter_lists_only_deliveries_in_that_status(client, endpoint, ui_status, stored, attempts):
    wanted = saved_delivery(endpoint, status=stored, attempt_count=attempts)
    for other_stored, other_attempts in (("pending", 0), ("sending", 0), ("pending", 3), ("delivered", 1), ("dead", 8)):
        if history.ui_status(Delivery(status=other_stored, attempt_count=other_attempts)) != ui_status:
            saved_delivery(endpoint, status=other_stored, attempt_count=other_attempts)
    html = client.get(f"/settings/alerts/deliveries?status={ui_status}").get_data(as_text=True)
    assert row_ids(html) == [wanted.id]


def test_kind_filter_separates_test_sends_from_real_alerts(client, endpoint, owner):
    real = saved_delivery(endpoint, alert=saved_alert(owner))
    test = saved_delivery(endpoint, is_test=True)
    assert row_ids(client.get("/settings/alerts/deliveries?kind=real").get_data(as_text=True)) == [real.id]
    assert row_ids(client.get("/settings/alerts/deliveries?kind=test").get_data(as_text=True)) == [test.id]
    assert row_ids(client.get("/settings/alerts/deliveries").get_data(as_text=True)) == [test.id, real.id]


def test_time_window_filter_lists_only_deliveries_inside_it(client, endpoint):
    now = utcnow().replace(second=0, microsecond=0)
    saved_delivery(endpoint, created_at=now - timedelta(days=3))
    inside = saved_delivery(endpoint, created_at=now - timedelta(days=2))
    saved_delivery(endpoint, created_at=now - timedelta(hours=1))
    since = (now - timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    html = client.get(f"/settings/alerts/deliveries?since={since}&until={until}").get_data(as_text=True)
    assert row_ids(html) == [inside.id]


def test_unknown_filter_values_show_a_form_error_not_a_500(client, endpoint):
    saved_delivery(endpoint)
    response = client.get("/settings/alerts/deliveries?status=exploded&since=yesterday")
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert "were ignored" in response.get_data(as_text=True)


def test_keyset_pages_walk_every_row_once_newest_first(client, endpoint):
    ids = saved_deliveries(endpoint, 260)
    seen, url = [], "/settings/alerts/deliveries"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += row_ids(html)
        older = re.search(r'href="([^"]*before=\d+[^"]*)">Older', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert seen == sorted(ids, reverse=True)
    newer = re.search(r'href="([^"]*after=\d+[^"]*)">← Newer', html).group(1).replace("&amp;", "&")
    assert row_ids(client.get(newer).get_data(as_text=True)) == sorted(ids, reverse=True)[200:250]


def test_page_two_is_stable_while_new_deliveries_arrive(client, endpoint):
    ids = sorted(saved_deliveries(endpoint, 120), reverse=True)
    first = client.get(f"/settings/alerts/deliveries?endpoint_id={endpoint.id}").get_data(as_text=True)
    assert row_ids(first) == ids[:50]
    older = re.search(r'href="([^"]*before=\d+[^"]*)">Older', first).group(1).replace("&amp;", "&")
    saved_delivery(endpoint)  # a new delivery arrives between page 1 and page 2
    saved_delivery(endpoint, status="pending", attempt_count=0)
    assert row_ids(client.get(older).get_data(as_text=True)) == ids[50:100]


@pytest.mark.parametrize("filters, index", [
    ({"endpoint_id": 1}, "ix_delivery_endpoint_id_id"),
    ({"endpoint_id": 1, "status": "dead"}, "ix_delivery_endpoint_id_id"),
    ({"rule_id": 1, "status": "delivered"}, "ix_delivery_rule_id_id"),
    ({"status": "dead"}, "ix_delivery_workspace_id_status_id"),
    ({"status": "pending"}, "ix_delivery_workspace_id_status_id"),
    ({"status": "delivered"}, "ix_delivery_workspace_id_status_id"),
    ({"status": "failed-retrying"}, "ix_delivery_status_"),
    ({"is_test": True}, "ix_delivery_workspace_id_id"),
    ({}, "ix_delivery_workspace_id_id"),
])
def test_every_history_filter_reads_through_an_index(app, db, filters, index):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    statement = history.page_statement(1, history.HistoryFilter(**filters), limit=50, before=1000)
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = [row[-1] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql))]
    delivery_step = next(step for step in plan if re.match(r"(SEARCH|SCAN) delivery\b", step))
    assert delivery_step.startswith("SEARCH delivery USING INDEX " + index), plan
    if filters.get("status") != "failed-retrying":  # two stored statuses: its few rows are sorted
        assert not any("TEMP B-TREE" in step for step in plan), plan  # read in id order: no sort


def test_recent_deliveries_and_success_rate_for_endpoint_pages(app, owner, endpoint):
    other = saved_endpoint(owner, "Other")
    for status in ("delivered", "delivered", "delivered", "dead", "pending"):
        saved_delivery(endpoint, status=status)
    saved_delivery(endpoint, status="dead", is_test=True)  # tests do not count
    saved_delivery(other, status="dead")
    recent = history.recent_deliveries(owner, endpoint_id=endpoint.id, limit=3)
    assert [delivery.endpoint_id for delivery in recent] == [endpoint.id] * 3
    assert recent[0].id > recent[1].id > recent[2].id
    assert history.success_rate(owner, endpoint_id=endpoint.id) == 0.75
    assert history.success_rate(owner, endpoint_id=endpoint.id, since=utcnow() + timedelta(hours=1)) is None


# --- the delivery page -----------------------------------------------------------------------


def test_delivery_page_shows_every_attempt_with_signature_masked(client, owner, endpoint):
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="delivered", attempt_count=2)
    saved_attempt(delivery, 1, 500, "server_error", duration_ms=12, response_excerpt="upstream exploded",
                 error="HTTP 500 from receiver", request_body='{"type": "alert.fired"}',
                 request_headers={"webhook-id": delivery.message_id, "webhook-signature": "v1,c2VjcmV0LXNpZw=="})
    saved_attempt(delivery, 2, 200, "success", duration_ms=8, response_excerpt="x" * 2000)
    html = client.get(f"/settings/alerts/deliveries/{delivery.id}").get_data(as_text=True)
    assert delivery.message_id in html
    assert "Attempt 1" in html and "Attempt 2" in html
    assert "upstream exploded" in html and "HTTP 500 from receiver" in html and "12 ms" in html
    assert "c2VjcmV0LXNpZw==" not in html and "webhook-signature: v1,••••" in html
    assert "x" * 1024 in html and "x" * 1025 not in html
    assert "alert.fired" in html
    assert ">Redeliver<" in html


def test_pending_delivery_has_no_redeliver_button(client, endpoint):
    delivery = saved_delivery(endpoint, status="pending")
    assert ">Redeliver<" not in client.get(f"/settings/alerts/deliveries/{delivery.id}").get_data(as_text=True)


def test_other_workspaces_deliveries_are_404(app, client, endpoint):
    delivery = saved_delivery(endpoint, status="dead")
    intruder = app.test_client()
    AuthActions(intruder).signup("intruder@example.com")
    assert intruder.get(f"/settings/alerts/deliveries/{delivery.id}").status_code == 404
    assert intruder.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver").status_code == 404
    assert intruder.post(f"/settings/alerts/endpoints/{endpoint.id}/retry-dead",
                         data={"since": "2020-01-01T00:00"}).status_code == 404
    assert delivery.id not in row_ids(intruder.get("/settings/alerts/deliveries").get_data(as_text=True))
    _db.session.refresh(delivery)
    assert delivery.status == "dead"


# --- Redeliver and Retry all dead --------------------------------------------------------------


def test_redeliver_button_queues_a_dead_delivery_again_and_sends_it_with_the_same_id(client, owner, receiver):
    endpoint = saved_endpoint(owner, url=receiver.url())
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="dead", attempt_count=8, max_attempts=8,
                             finished_at=utcnow())
    message_id = delivery.message_id
    response = client.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver", follow_redirects=True)
    assert f"Delivery {message_id} queued again" in response.get_data(as_text=True)
    event = _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.redeliver"))
    assert event.object_id == str(delivery.id) and message_id in event.summary and "(dead)" in event.summary
    assert receiver.wait_for(1)[0].headers["webhook-id"] == message_id
    assert pool.wait_idle()
    _db.session.expire_all()
    delivery = _db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.message_id, delivery.attempt_count) == ("delivered", message_id, 9)


def test_redeliver_refuses_a_delivery_still_pending(client, endpoint):
    delivery = saved_delivery(endpoint, status="pending", attempt_count=1)
    response = client.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver", follow_redirects=True)
    assert "still being attempted" in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.redeliver")) is None


def test_retry_all_dead_since_queues_only_dead_deliveries_after_since(client, owner, endpoint):
    now = utcnow()
    recent_dead = [saved_delivery(endpoint, status="dead", created_at=now - timedelta(hours=hours),
                                 finished_at=now - timedelta(hours=hours)) for hours in (1, 2, 3)]
    old_dead = saved_delivery(endpoint, status="dead", created_at=now - timedelta(days=3),
                             finished_at=now - timedelta(days=3))
    delivered = saved_delivery(endpoint, status="delivered", created_at=now - timedelta(hours=1))
    elsewhere = saved_delivery(saved_endpoint(owner, "Other"), status="dead", created_at=now - timedelta(hours=1))
    since = (now - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/settings/alerts/endpoints/{endpoint.id}/retry-dead", data={"since": since},
                           follow_redirects=True)
    assert "3 dead deliveries queued again" in response.get_data(as_text=True)
    statuses = {delivery.id: _db.session.get(Delivery, delivery.id).status for delivery in
                [*recent_dead, old_dead, delivered, elsewhere]}
    assert [statuses[delivery.id] for delivery in recent_dead] == ["pending"] * 3
    assert (statuses[old_dead.id], statuses[delivered.id], statuses[elsewhere.id]) == ("dead", "delivered", "dead")
    event = _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "endpoint.retry_dead"))
    assert event.object_id == str(endpoint.id) and "queued 3" in event.summary


def test_retry_dead_without_since_explains_and_changes_nothing(client, endpoint):
    dead = saved_delivery(endpoint, status="dead")
    response = client.post(f"/settings/alerts/endpoints/{endpoint.id}/retry-dead", data={"since": "soon"},
                           follow_redirects=True)
    assert "Nothing was retried" in response.get_data(as_text=True)
    _db.session.refresh(dead)
    assert dead.status == "dead"


def test_redeliver_and_retry_dead_forms_need_a_csrf_token(tmp_path):
    (tmp_path / "csrf").mkdir()
    csrf_app = make_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        browser = csrf_app.test_client()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          browser.get("/signup").get_data(as_text=True)).group(1)
        browser.post("/signup", data={"email": "owner@example.com", "password": "correct horse battery",
                                      "confirm": "correct horse battery", "csrf_token": token})
        endpoint = saved_endpoint(workspace_id_of())
        delivery = saved_delivery(endpoint, status="dead")
        assert browser.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver").status_code == 400
        assert browser.post(f"/settings/alerts/endpoints/{endpoint.id}/retry-dead",
                            data={"since": "2020-01-01T00:00"}).status_code == 400
        _db.session.refresh(delivery)
        assert delivery.status == "dead"
        page = browser.get(f"/settings/alerts/deliveries/{delivery.id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        browser.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver", data={"csrf_token": token})
        _db.session.refresh(delivery)
        assert delivery.status == "pending"
        _db.session.remove()
        _db.engine.dispose()
