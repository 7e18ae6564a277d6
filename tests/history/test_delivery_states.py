"""One vocabulary for delivery states, events and attempt budgets on every screen: a failed test
send reads "Test failed" (never "Dead", never in the dead counts), a retrying delivery reads
"Retrying" on the endpoint list and the history alike, a redelivered delivery reads "attempt 1 of 8"
(not 2/9), and "Retry all dead" on a disabled endpoint offers to enable it first."""
import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from tests.support.factories import saved_alert, saved_attempt, saved_delivery, saved_endpoint, workspace_id_of
from webapp.extensions import db as _db
from webapp.models import Delivery, Endpoint
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


@pytest.fixture(autouse=True)
def fresh_identity_per_request(app):
    @app.before_request
    def forget_previous_identity():
        for name in ("_login_user", "workspace_id", "api_user_id", "api_key_id"):
            g.pop(name, None)

    yield
    pool.wait_idle()


@pytest.fixture
def owner(auth):
    auth.signup()
    return workspace_id_of()


def page(client, path) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def history_row(client, delivery_id, path="/settings/alerts/deliveries") -> str:
    return re.search(rf'<tr data-delivery-id="{delivery_id}">(.*?)</tr>', page(client, path), re.S).group(1)


def test_failed_test_send_reads_test_failed_and_is_not_counted_dead(client, owner):
    endpoint = saved_endpoint(owner)
    test = saved_delivery(endpoint, status="dead", is_test=True, event="alert.test", attempt_count=1,
                          max_attempts=1, last_http_status=500, finished_at=utcnow())

    row = history_row(client, test.id)
    assert "Test failed" in row and "Dead" not in row and "Test alert" in row
    overview = page(client, "/overview")
    assert re.search(r'<span class="num">0</span> failed', overview)
    assert 'class="card bad"' not in overview
    dead_filter = page(client, "/settings/alerts/deliveries?status=dead")
    assert f'data-delivery-id="{test.id}"' not in dead_filter
    assert f'data-delivery-id="{test.id}"' in page(client, "/settings/alerts/deliveries?status=test-failed")


def test_real_dead_delivery_counts_in_the_red_card_as_failed(client, owner):
    endpoint = saved_endpoint(owner)
    saved_delivery(endpoint, alert=saved_alert(owner), status="dead", attempt_count=8, max_attempts=8)
    overview = page(client, "/overview")
    assert 'class="card bad"' in overview and re.search(r'<span class="num">1</span> failed', overview)


def test_test_sends_are_left_out_of_the_overview_success_rate(client, owner):
    endpoint = saved_endpoint(owner, name="rate-hook")
    real = saved_delivery(endpoint, alert=saved_alert(owner), status="delivered", attempt_count=1)
    saved_attempt(real, 1, 200, "success", duration_ms=40)
    test = saved_delivery(endpoint, status="dead", is_test=True, event="alert.test", attempt_count=1)
    saved_attempt(test, 1, 500, "server_error", duration_ms=40)
    assert "100.0 %" in page(client, "/overview")


def test_retrying_delivery_has_the_same_words_on_the_endpoint_list_and_the_history(client, owner):
    endpoint = saved_endpoint(owner)
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="pending", attempt_count=1, max_attempts=8,
                              last_http_status=500, next_attempt_at=utcnow() + timedelta(minutes=1))
    endpoint_row = re.search(rf'<tr data-endpoint-id="{endpoint.id}">(.*?)</tr>',
                             page(client, "/settings/alerts/endpoints"), re.S).group(1)
    history = history_row(client, delivery.id)
    assert ">Retrying<" in endpoint_row and ">Retrying<" in history
    assert ">pending<" not in endpoint_row and "Failed, retrying" not in history
    assert "attempt 1 of 8" in history and "Alert fired" in history


def test_redelivered_delivery_reads_attempt_1_of_its_fresh_budget_not_2_of_9(client, receiver, owner):
    receiver.respond(200)
    endpoint = saved_endpoint(owner, url=receiver.url(), max_attempts=8)
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="delivered", attempt_count=1,
                              max_attempts=8, finished_at=utcnow())
    client.post(f"/settings/alerts/deliveries/{delivery.id}/redeliver")
    receiver.wait_for(1)
    assert pool.wait_idle()
    _db.session.expire_all()
    stored = _db.session.get(Delivery, delivery.id)
    assert (stored.status, stored.attempt_count) == ("delivered", 2)  # the history of attempts is kept
    row = history_row(client, delivery.id)
    assert "attempt 1 of 8" in row and "2/9" not in row


def test_redeliver_in_the_api_reports_the_rounds_attempts(api, receiver):
    owner = workspace_id_of()
    receiver.respond(200)
    endpoint = saved_endpoint(owner, url=receiver.url(), max_attempts=8)
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="dead", attempt_count=8, max_attempts=8,
                              finished_at=utcnow())
    assert api.post(f"/deliveries/{delivery.id}/redeliver").status_code == 202
    receiver.wait_for(1)
    assert pool.wait_idle()
    _db.session.expire_all()
    body = api.get(f"/deliveries/{delivery.id}").json
    assert (body["status"], body["attempt_count"], body["max_attempts"]) == ("delivered", 9, 16)
    assert (body["round_attempt_count"], body["round_max_attempts"]) == (1, 8)
    assert (body["state"], body["state_label"], body["event_label"]) == ("delivered", "Delivered", "Alert fired")


def _disabled_endpoint_with_dead(owner, count=2):
    endpoint = saved_endpoint(owner, url="http://127.0.0.1:9/hook", is_active=False,
                              disabled_reason="The receiver answered 410 Gone.")
    for _ in range(count):
        saved_delivery(endpoint, alert=saved_alert(owner), status="dead", attempt_count=8, max_attempts=8,
                       created_at=utcnow() - timedelta(hours=1))
    return endpoint


def test_retry_all_dead_on_a_disabled_endpoint_offers_to_enable_first(client, owner):
    endpoint = _disabled_endpoint_with_dead(owner)
    assert "Enable and retry 2 dead deliveries" in page(client, f"/settings/alerts/endpoints/{endpoint.id}")


def test_retry_all_dead_on_a_disabled_endpoint_without_enabling_is_refused(client, owner):
    endpoint = _disabled_endpoint_with_dead(owner)
    since = (utcnow() - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/settings/alerts/endpoints/{endpoint.id}/retry-dead", data={"since": since},
                           follow_redirects=True)
    text = html.unescape(response.get_data(as_text=True))
    assert "Nothing was retried" in text and "disabled" in text and "deliveries queued again" not in text
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                              .where(Delivery.status == "dead")) == 2


def test_enable_and_retry_enables_the_endpoint_and_says_how_many_were_queued(client, owner):
    endpoint = _disabled_endpoint_with_dead(owner)
    endpoint_id = endpoint.id
    since = (utcnow() - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/settings/alerts/endpoints/{endpoint_id}/retry-dead",
                           data={"since": since, "enable": "y"}, follow_redirects=True)
    assert "Endpoint enabled; 2 dead deliveries queued again" in html.unescape(response.get_data(as_text=True))
    _db.session.expire_all()
    assert _db.session.get(Endpoint, endpoint_id).is_active
