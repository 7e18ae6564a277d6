""""Send test alert" end to end (services/endpoints.send_test): a real loopback receiver gets one
signed request per press, in each payload format, verified with the reference `standardwebhooks`
package; the outcome (status, time, the answer's first 300 characters, or the error in words)
is shown on the page and in the API, and the attempt is kept in the history as a test.
"""
import html
import json
import re
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webapp import __version__
from webapp.models import Delivery, DeliveryAttempt, Endpoint
from webapp.timeutil import utcnow

CUSTOM_HEADERS = {"Authorization": "Bearer abc123", "X-Team": "ops"}
TEMPLATE = ('{"summary": {{ alert.message|tojson }}, "job": "{{ job.slug }}", "event": "{{ type }}", '
            '"run": "{{ run.external_id }}", "exit": {{ run.metadata.exit_code }}}')
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def make_endpoint(api, url, **fields) -> dict:
    body = {"name": f"{fields.get('format', 'json')} hook", "url": url, "headers": CUSTOM_HEADERS, **fields}
    response = api.post("/endpoints", json=body)
    assert response.status_code == 201, response.json
    return response.json


def press_on_page(client, endpoint_id) -> str:
    """Press Send test alert on the detail page; the page it lands on, unescaped."""
    response = client.post(f"/settings/alerts/endpoints/{endpoint_id}/test", follow_redirects=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def press_in_api(api, endpoint_id) -> dict:
    response = api.post(f"/endpoints/{endpoint_id}/test")
    assert response.status_code == 200
    return response.json


def press(how, api, client, endpoint_id):
    return press_on_page(client, endpoint_id) if how == "page" else press_in_api(api, endpoint_id)


def verified(request, secret, *, json_body=True):
    """The body as the receiver would accept it, checked with standardwebhooks."""
    return Webhook(secret).verify(request.body, request.headers, json_parse=json_body)


def check_common_headers(request, event="alert.test"):
    headers = request.headers
    assert re.fullmatch(r"msg_[0-9a-f]+", headers["webhook-id"])
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    assert headers["user-agent"] == f"Tocsin/{__version__}"
    assert headers["x-tocsin-event"] == event
    assert headers["authorization"] == "Bearer abc123"
    assert headers["x-team"] == "ops"


def check_schema_data(data):
    """DESIGN.md's `data` object: alert, rule, job, run, workspace with the documented fields."""
    assert set(data) == {"alert", "rule", "job", "run", "workspace"}
    assert set(data["alert"]) == {"id", "type", "severity", "message", "repeat_count", "created_at", "state",
                                  "resolved_at", "url"}
    assert (data["alert"]["state"], data["alert"]["resolved_at"]) == ("firing", None)
    assert data["alert"]["type"] == "alert.test"
    assert data["alert"]["url"].startswith("http://tocsin.test/")
    assert TIMESTAMP.match(data["alert"]["created_at"])
    assert set(data["rule"]) == {"id", "name"}
    assert set(data["job"]) == {"slug", "name"}
    assert set(data["run"]) == {"id", "external_id", "status", "started_at", "finished_at", "deadline_at",
                                "duration_ms"}
    assert "metadata" not in data["run"]  # summaries only: run metadata is never in the built-in formats
    assert data["workspace"]["name"] == "owner's workspace"


# --- one press, each format, page and API --------------------------------------------------------

HOW = ["page", "api"]


@pytest.mark.parametrize("how", HOW)
def test_json_test_alert_is_one_signed_request_in_the_tocsin_schema(api, client, receiver, how):
    endpoint = make_endpoint(api, receiver.url())
    press(how, api, client, endpoint["id"])

    [request] = receiver.wait_for(1)
    payload = verified(request, endpoint["secret"])
    check_common_headers(request)
    assert request.headers["content-type"] == "application/json"
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "alert.test"
    assert TIMESTAMP.match(payload["timestamp"])
    check_schema_data(payload["data"])
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("how", HOW)
def test_slack_test_alert_has_text_and_blocks(api, client, receiver, how):
    endpoint = make_endpoint(api, receiver.url(), format="slack")
    press(how, api, client, endpoint["id"])

    [request] = receiver.wait_for(1)
    payload = verified(request, endpoint["secret"])
    check_common_headers(request)
    assert request.headers["content-type"] == "application/json"
    assert "billing-nightly failed" in payload["text"]
    assert [block["type"] for block in payload["blocks"]] == ["section", "context"]
    assert "billing-nightly failed" in payload["blocks"][0]["text"]["text"]
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("how", HOW)
def test_discord_test_alert_has_content_and_embeds(api, client, receiver, how):
    endpoint = make_endpoint(api, receiver.url(), format="discord")
    press(how, api, client, endpoint["id"])

    [request] = receiver.wait_for(1)
    payload = verified(request, endpoint["secret"])
    check_common_headers(request)
    assert "billing-nightly failed" in payload["content"]
    [embed] = payload["embeds"]
    assert embed["title"] and embed["description"] and embed["url"].startswith("http://tocsin.test/")
    assert {"name": "Job", "value": "billing-nightly", "inline": True} in embed["fields"]
    assert payload["allowed_mentions"] == {"parse": []}
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("how", HOW)
def test_template_test_alert_renders_the_users_jinja(api, client, receiver, how):
    endpoint = make_endpoint(api, receiver.url(), format="template", template=TEMPLATE)
    press(how, api, client, endpoint["id"])

    [request] = receiver.wait_for(1)
    payload = verified(request, endpoint["secret"])
    check_common_headers(request)
    assert request.headers["content-type"] == "application/json"
    assert payload == {"summary": "Test alert from Tocsin: billing-nightly failed after 42 s: exit code 3",
                       "job": "billing-nightly", "event": "alert.test", "run": "gha-8812", "exit": 3}
    assert len(receiver.requests) == 1


def test_text_template_is_sent_as_text_and_signed_the_same(api, client, receiver):
    endpoint = make_endpoint(api, receiver.url(), format="template",
                             template="[{{ alert.severity }}] {{ alert.message }}")
    press_in_api(api, endpoint["id"])

    [request] = receiver.wait_for(1)
    verified(request, endpoint["secret"], json_body=False)
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    assert request.body.decode().startswith("[critical] Test alert from Tocsin")


def test_signature_does_not_verify_with_another_secret(api, receiver):
    endpoint = make_endpoint(api, receiver.url())
    other = make_endpoint(api, receiver.url())
    press_in_api(api, endpoint["id"])
    [request] = receiver.wait_for(1)
    with pytest.raises(WebhookVerificationError):
        verified(request, other["secret"])


def test_each_press_is_a_new_delivery_with_its_own_webhook_id(api, receiver):
    endpoint = make_endpoint(api, receiver.url())
    press_in_api(api, endpoint["id"])
    press_in_api(api, endpoint["id"])
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] != second.headers["webhook-id"]


# --- the outcome shown ----------------------------------------------------------------------------

def test_outcome_shows_status_time_and_first_300_characters(api, client, receiver):
    answer = "a" * 300 + "b" * 700
    receiver.respond(202, body=answer).respond(202, body=answer)
    endpoint = make_endpoint(api, receiver.url())

    outcome = press_in_api(api, endpoint["id"])
    assert outcome["outcome"] == "success" and outcome["status"] == "delivered"
    assert outcome["http_status"] == 202
    assert isinstance(outcome["duration_ms"], int) and outcome["duration_ms"] >= 0
    assert outcome["response_excerpt"] == "a" * 300
    assert outcome["error"] is None

    page = press_on_page(client, endpoint["id"])
    shown = re.search(r'id="test-outcome".*?</div>', page, re.S).group(0)
    assert re.search(r'HTTP <span class="http-status">202</span>', shown)
    assert re.search(r'<span class="duration">\d+ ms</span>', shown)
    assert "delivered" in shown
    excerpt = re.search(r'<pre class="response-excerpt"[^>]*>(.*?)</pre>', shown, re.S).group(1)
    assert excerpt == "a" * 300


def test_outcome_is_also_shown_on_the_list_when_pressed_there(api, client, receiver):
    endpoint = make_endpoint(api, receiver.url())
    response = client.post(f"/settings/alerts/endpoints/{endpoint['id']}/test?back=list", follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert 'id="test-outcome"' in page and "HTTP <span class=\"http-status\">200</span>" in page
    assert f'data-endpoint-id="{endpoint["id"]}"' in page
    assert len(receiver.wait_for(1)) == 1


@pytest.mark.parametrize("how", HOW)
def test_timeout_is_reported_in_words(api, client, receiver, how):
    receiver.respond(200, delay=float("inf"))  # held until the receiver stops
    endpoint = make_endpoint(api, receiver.url(), timeout_seconds=1)

    result = press(how, api, client, endpoint["id"])
    if how == "api":
        assert result["outcome"] == "timeout" and result["http_status"] is None
        assert result["error"] == "timed out after 1 s"
    else:
        assert "timed out after 1 s" in result and "failed (timeout)" in result
    assert len(receiver.requests) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("how", HOW)
def test_connection_refused_is_reported_in_words(api, client, how):
    endpoint = make_endpoint(api, f"http://127.0.0.1:{_closed_port()}/hook")
    result = press(how, api, client, endpoint["id"])
    if how == "api":
        assert result["outcome"] == "connection" and result["error"] == "connection refused"
    else:
        assert "connection refused" in result and "no HTTP answer" in result


@pytest.mark.parametrize("how", HOW)
def test_blocked_address_is_reported_in_words(app, api, client, receiver, how):
    endpoint = make_endpoint(api, receiver.url())
    app.config["TOCSIN_ALLOWED_NETWORKS"] = ""
    result = press(how, api, client, endpoint["id"])
    words = "blocked: resolves to 127.0.0.1, a loopback address"
    if how == "api":
        assert result["outcome"] == "blocked" and result["error"].startswith(words)
    else:
        assert words in result and "failed (blocked)" in result
    assert receiver.requests == []


@pytest.mark.parametrize("how", HOW)
def test_template_error_at_send_time_fails_the_delivery_not_the_process(api, client, db, receiver, how):
    endpoint = make_endpoint(api, receiver.url(), format="template", template='{"ok": true}')
    # A template that no longer renders (saved by an older version, or edited in the database).
    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint["id"])
                       .values(template="{{ alert.nonexistent_field }}"))
    db.session.commit()

    result = press(how, api, client, endpoint["id"])
    if how == "api":
        assert result["outcome"] == "template" and result["status"] == "dead"
        assert "template error" in result["error"] and "nonexistent_field" in result["error"]
    else:
        assert "template error" in result and "nonexistent_field" in result
    assert receiver.requests == []
    assert api.get(f"/endpoints/{endpoint['id']}").status_code == 200  # the app carries on
    [attempt] = db.session.scalars(sa.select(DeliveryAttempt)).all()
    assert attempt.outcome == "template"


def test_test_alert_works_on_a_disabled_endpoint(api, client, receiver):
    endpoint = make_endpoint(api, receiver.url())
    assert api.patch(f"/endpoints/{endpoint['id']}", json={"is_active": False}).json["is_active"] is False

    assert press_in_api(api, endpoint["id"])["outcome"] == "success"
    page = press_on_page(client, endpoint["id"])
    assert "Disabled" in page and "delivered" in page
    assert len(receiver.wait_for(2)) == 2


def test_test_send_is_recorded_in_the_history_marked_as_test(api, client, db, receiver):
    receiver.respond(500, body="boom")
    endpoint = make_endpoint(api, receiver.url())
    failed = press_in_api(api, endpoint["id"])
    delivered = press_in_api(api, endpoint["id"])

    rows = {row.id: row for row in db.session.scalars(sa.select(Delivery))}
    assert set(rows) == {failed["delivery_id"], delivered["delivery_id"]}
    assert all(row.is_test and row.attempt_count == 1 and row.finished_at for row in rows.values())
    assert rows[failed["delivery_id"]].status == "dead"
    assert rows[failed["delivery_id"]].last_http_status == 500
    assert rows[delivered["delivery_id"]].status == "delivered"
    attempt = db.session.scalar(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivered["delivery_id"]))
    assert attempt.outcome == "success" and attempt.http_status == 200
    # The record keeps what was sent, minus secrets: signatures and custom header values masked.
    assert attempt.request_headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert attempt.request_headers["webhook-signature"] == "v1,••••"
    assert attempt.request_headers["Authorization"] == "••••••"
    assert "abc123" not in json.dumps(attempt.request_headers, ensure_ascii=False)
    delivery_page = client.get(f"/settings/alerts/deliveries/{delivered['delivery_id']}").get_data(as_text=True)
    assert "Authorization" in delivery_page and "abc123" not in delivery_page

    detail = client.get(f"/settings/alerts/endpoints/{endpoint['id']}").get_data(as_text=True)
    for delivery_id in rows:
        row = re.search(rf'<tr data-delivery-id="{delivery_id}">.*?</tr>', detail, re.S).group(0)
        assert '<span class="muted">test</span>' in row


# --- rotation -------------------------------------------------------------------------------------

def test_after_rotation_both_secrets_verify_and_after_24_hours_only_the_new(api, db, receiver):
    endpoint = make_endpoint(api, receiver.url())
    old_secret = endpoint["secret"]
    rotated = api.post(f"/endpoints/{endpoint['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"})
    assert rotated.status_code == 200
    new_secret = rotated.json["secret"]
    assert new_secret != old_secret

    press_in_api(api, endpoint["id"])
    [during] = receiver.wait_for(1)
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(signature.startswith("v1,") for signature in signatures)
    assert verified(during, new_secret)["type"] == "alert.test"
    assert verified(during, old_secret)["type"] == "alert.test"

    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint["id"])
                       .values(secret_rotated_at=utcnow() - timedelta(hours=24, seconds=1)))
    db.session.commit()
    press_in_api(api, endpoint["id"])
    _, after = receiver.wait_for(2)
    assert " " not in after.headers["webhook-signature"]
    assert verified(after, new_secret)["type"] == "alert.test"
    with pytest.raises(WebhookVerificationError):
        verified(after, old_secret)


def test_rotating_from_the_page_also_signs_with_both(api, client, receiver):
    endpoint = make_endpoint(api, receiver.url())
    page = client.post(f"/settings/alerts/endpoints/{endpoint['id']}/rotate", follow_redirects=True)
    new_secret = re.search(r'id="endpoint-secret">(whsec_[^<]+)<', page.get_data(as_text=True)).group(1)

    press_on_page(client, endpoint["id"])
    [request] = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verified(request, new_secret)
    verified(request, endpoint["secret"])
