"""The delivery page explains failures: a hint per kind of error, the request shown once, attempts
as compact rows with the receiver's answer (status, headers, first 1 KB), "Retry now" on a delivery
waiting for its next attempt, and plain words instead of internal ones. Attempts are made by the
real engine against a loopback receiver (or a closed port); "Retry now" is also checked in the API.
"""
import re
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_delivery, saved_attempt, saved_delivery, saved_endpoint, workspace_id_of
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery, DeliveryAttempt, Endpoint
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

PAGE = "/settings/alerts/deliveries/{}"


@pytest.fixture(autouse=True)
def finish_sends():
    yield
    pool.wait_idle()  # a send started by a test finishes before the database goes away


@pytest.fixture
def owner(auth):
    auth.signup()
    return workspace_id_of()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def reload(model, object_id):
    _db.session.rollback()
    return _db.session.get(model, object_id, populate_existing=True)


def attempt_once(app, endpoint: Endpoint) -> Delivery:
    """A real alert delivery to `endpoint`, attempted once by the retry job (as the scheduler would)."""
    delivery = make_delivery(_db.session.get(Endpoint, endpoint.id))
    _db.session.commit()
    delivery_id = delivery.id
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle(timeout=20)
    return reload(Delivery, delivery_id)


def make_due_again(delivery_id: int) -> None:
    _db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
                        .values(next_attempt_at=utcnow()))
    _db.session.commit()


def page_of(client, delivery) -> str:
    response = client.get(PAGE.format(delivery.id))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def attempt_html(html: str, number: int) -> str:
    return re.search(rf'<details class="attempt" id="attempt-{number}".*?</details>', html, re.S).group(0)


# --- hints -------------------------------------------------------------------------------------------


def test_refused_connection_is_explained_with_a_hint(app, client, owner):
    delivery = attempt_once(app, saved_endpoint(owner, url=closed_port_url()))
    assert delivery.status == "pending" and delivery.last_error == "connection refused"
    html = page_of(client, delivery)
    assert "connection refused" in html
    assert "Is the receiver running and reachable from the Tocsin host?" in attempt_html(html, 1)
    assert "Could not connect" in html


def test_timeout_hint_names_the_endpoints_timeout_setting(app, client, owner, receiver):
    receiver.respond(200, delay=3)
    delivery = attempt_once(app, saved_endpoint(owner, url=receiver.url(), timeout_seconds=1))
    assert delivery.last_error.startswith("timed out")
    html = page_of(client, delivery)
    assert "did not answer within the endpoint&#39;s timeout (1 s)" in attempt_html(html, 1)
    assert "raise the timeout in the endpoint&#39;s settings" in html


def test_410_gone_says_tocsin_disabled_the_endpoint(app, client, owner, receiver):
    receiver.respond(410, body="gone for good")
    endpoint = saved_endpoint(owner, url=receiver.url())
    delivery = attempt_once(app, endpoint)
    assert delivery.status == "dead" and reload(Endpoint, endpoint.id).is_active is False
    html = page_of(client, delivery)
    assert "Tocsin disabled this endpoint because the receiver answered 410 Gone" in attempt_html(html, 1)
    assert html.count("Tocsin disabled this endpoint because") == 2  # next to the last error too


def test_a_test_sends_404_warns_instead_of_claiming_the_endpoint_was_disabled(client, owner):
    endpoint = saved_endpoint(owner)
    delivery = saved_delivery(endpoint, is_test=True, status="dead", attempt_count=1, max_attempts=1,
                              last_http_status=404, last_error="HTTP 404 Not Found")
    saved_attempt(delivery, 1, 404, "client_error", error="HTTP 404 Not Found")
    html = page_of(client, delivery)
    assert "For a real alert Tocsin would disable this endpoint" in html
    assert "Tocsin disabled this endpoint" not in html


# --- the receiver's answer ---------------------------------------------------------------------------


@pytest.mark.postgres_too
def test_response_headers_are_recorded_with_cookies_masked_and_shown_with_the_body_pretty_printed(
        app, client, owner, receiver):
    receiver.respond(503, body='{"error":"database is down","retry":true}',
                     headers={"Content-Type": "application/json", "X-Request-Id": "req-4242",
                              "Set-Cookie": "session=cookie-value-77; HttpOnly", "Retry-After": "120"})
    delivery = attempt_once(app, saved_endpoint(owner, url=receiver.url()))
    attempt = _db.session.scalar(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id))
    assert attempt.response_headers["X-Request-Id"] == "req-4242"
    assert attempt.response_headers["Set-Cookie"] == "••••••"
    assert "cookie-value-77" not in str(attempt.response_headers)

    row = attempt_html(page_of(client, delivery), 1)
    assert "X-Request-Id: req-4242" in row and "Set-Cookie: ••••••" in row and "cookie-value-77" not in row
    assert '"error": "database is down",\n  "retry": true' in row.replace("&#34;", '"')
    assert "Receiver error" in row and "HTTP 503" in row


def test_api_attempts_carry_the_response_headers(app, api, receiver):
    receiver.respond(500, headers={"X-Request-Id": "req-api-1"})
    delivery = attempt_once(app, saved_endpoint(workspace_id_of(), url=receiver.url()))
    [attempt] = api.get(f"/deliveries/{delivery.id}").json["attempts"]
    assert attempt["response_headers"]["X-Request-Id"] == "req-api-1"


def test_the_request_is_shown_once_and_attempts_show_only_what_differed(app, client, owner, receiver):
    receiver.respond(500).respond(500)  # then the default 200
    endpoint = saved_endpoint(owner, url=receiver.url())
    delivery = attempt_once(app, endpoint)
    for _ in range(2):
        make_due_again(delivery.id)
        delivery_jobs.retry_due_deliveries(app)
        assert pool.wait_idle(timeout=20)
    delivery = reload(Delivery, delivery.id)
    assert delivery.status == "delivered" and delivery.attempt_count == 3
    html = page_of(client, delivery)
    assert html.count("x-tocsin-event: alert.fired") == 1
    assert html.count("webhook-signature: v1,••••") == 1
    assert html.count("&#34;type&#34;: &#34;alert.fired&#34;") == 1  # the body once, pretty-printed
    assert html.count('<details class="attempt"') == 3
    for number in (2, 3):
        row = attempt_html(html, number)
        assert "x-tocsin-event" not in row and "webhook-id:" not in row


def test_what_changed_between_attempts_is_shown_in_that_attempts_row_only(client, owner):
    delivery = saved_delivery(saved_endpoint(owner), status="delivered", attempt_count=2)
    sent = {"webhook-id": delivery.message_id, "webhook-timestamp": "1700000000", "webhook-signature": "v1,AAAA"}
    body = '{"type":"alert.fired","timestamp":"%s","data":{"alert":{"id":"7","message":"disk full"}}}'
    saved_attempt(delivery, 1, 500, "server_error", request_headers=sent,
                  request_body=body % "2026-11-24T09:00:00Z")
    saved_attempt(delivery, 2, 200, "success", request_headers={**sent, "webhook-timestamp": "1700000060"},
                  request_body=body % "2026-11-24T09:01:00Z")
    html = page_of(client, delivery).replace("&#34;", '"')
    row = attempt_html(html, 2)
    assert "webhook-timestamp: 1700000060" in row
    assert 'body timestamp: "2026-11-24T09:01:00Z"' in row
    assert "disk full" not in row and "webhook-signature" not in row  # the same (masked) on every attempt
    before_attempts = html.split('<details class="attempt"')[0]
    assert "webhook-timestamp: 1700000000" in before_attempts and "1700000060" not in before_attempts
    assert html.count("disk full") == 1


# --- plain words -------------------------------------------------------------------------------------


def test_the_page_speaks_no_internal_words(client, owner):
    delivery = saved_delivery(saved_endpoint(owner), status="sending", attempt_count=2, max_attempts=8,
                              lease_until=utcnow() + timedelta(seconds=30), last_http_status=500,
                              last_error="HTTP 500 Internal Server Error")
    saved_attempt(delivery, 1, 500, "server_error", error="HTTP 500 Internal Server Error")
    saved_attempt(delivery, 2, None, "connection", error="connection refused")
    html = page_of(client, delivery)
    for internal in ("Lease", "lease", "server_error", "client_error", ">connection<"):
        assert internal not in html
    assert "Being sent now" in html
    assert "Webhook ID" in html and "drop the duplicate" in html


# --- Retry now ---------------------------------------------------------------------------------------


def waiting_delivery(app, owner, receiver) -> Delivery:
    """A delivery whose first attempt got a 500 and whose next attempt is an hour away."""
    receiver.respond(500)  # then the default 200
    delivery = attempt_once(app, saved_endpoint(owner, url=receiver.url()))
    _db.session.execute(sa.update(Delivery).where(Delivery.id == delivery.id)
                        .values(next_attempt_at=utcnow() + timedelta(hours=1)))
    _db.session.commit()
    assert len(receiver.requests) == 1
    return reload(Delivery, delivery.id)


@pytest.mark.postgres_too
def test_retry_now_sends_a_waiting_delivery_at_once(app, client, owner, receiver):
    delivery = waiting_delivery(app, owner, receiver)
    assert ">Retry now<" in page_of(client, delivery)
    response = client.post(PAGE.format(delivery.id) + "/retry-now", follow_redirects=True)
    assert f"Attempt 2 of {delivery.message_id} is on its way" in response.get_data(as_text=True)
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == delivery.message_id
    assert pool.wait_idle(timeout=20)
    delivery = reload(Delivery, delivery.id)
    assert (delivery.status, delivery.attempt_count) == ("delivered", 2)
    event = _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.retry_now"))
    assert event.object_id == str(delivery.id)
    assert ">Retry now<" not in page_of(client, delivery)


@pytest.mark.parametrize("fields", [
    {"status": "delivered", "attempt_count": 1},
    {"status": "dead", "attempt_count": 8},
    {"status": "pending", "attempt_count": 0},  # the first attempt is on its way
    {"status": "sending", "attempt_count": 1},  # claimed: being sent right now
])
def test_retry_now_is_refused_when_the_delivery_is_not_waiting(client, owner, receiver, fields):
    delivery = saved_delivery(saved_endpoint(owner, url=receiver.url()), next_attempt_at=utcnow() + timedelta(hours=1),
                              lease_until=utcnow() + timedelta(minutes=1) if fields["status"] == "sending" else None,
                              **fields)
    assert ">Retry now<" not in page_of(client, delivery)
    response = client.post(PAGE.format(delivery.id) + "/retry-now", follow_redirects=True)
    assert "Not retried:" in response.get_data(as_text=True)
    assert pool.wait_idle(timeout=5)
    assert receiver.requests == []
    assert reload(Delivery, delivery.id).status == fields["status"]


@pytest.mark.postgres_too
def test_retry_now_via_the_api_sends_at_once_and_answers_409_when_not_waiting(app, api, receiver):
    delivery = waiting_delivery(app, workspace_id_of(), receiver)
    response = api.post(f"/deliveries/{delivery.id}/retry")
    assert response.status_code == 202, response.json
    assert response.json["id"] == delivery.id
    receiver.wait_for(2)
    assert pool.wait_idle(timeout=20)
    assert reload(Delivery, delivery.id).status == "delivered"

    again = api.post(f"/deliveries/{delivery.id}/retry")
    assert again.status_code == 409 and again.json["error"]["code"] == "not_waiting"
    assert len(receiver.requests) == 2


def test_retry_now_on_a_disabled_endpoint_asks_to_enable_it_first(api, receiver):
    endpoint = saved_endpoint(workspace_id_of(), url=receiver.url(), is_active=False, disabled_reason="by hand")
    delivery = saved_delivery(endpoint, status="pending", attempt_count=1,
                              next_attempt_at=utcnow() + timedelta(hours=1))
    response = api.post(f"/deliveries/{delivery.id}/retry")
    assert response.status_code == 409 and response.json["error"]["code"] == "endpoint_disabled"
    assert reload(Delivery, delivery.id).next_attempt_at > utcnow() + timedelta(minutes=50)


def test_retry_now_of_another_workspaces_delivery_is_404(api, other_api, receiver):
    delivery = saved_delivery(saved_endpoint(workspace_id_of(), url=receiver.url()), status="pending",
                              attempt_count=1, next_attempt_at=utcnow() + timedelta(hours=1))
    assert other_api.post(f"/deliveries/{delivery.id}/retry").status_code == 404
    assert receiver.requests == []
