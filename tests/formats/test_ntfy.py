"""ntfy: the alert's message as a plain-text body, Title / Priority / Tags / Click headers, and an
optional access token as `Authorization: Bearer` — masked in the history, unlike the other four."""
import base64
import email.header

import pytest
import sqlalchemy as sa

from tests.formats.helpers import ACCESS_TOKEN, deliver_for_real, long_context
from webapp.models import DeliveryAttempt, Endpoint
from webapp.services import crypto
from webapp.services.formats import ntfy

MASK = "••••••"


def decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def test_a_delivered_alert_carries_the_ntfy_headers_and_a_plain_text_body(app, db, receiver):
    request, record = deliver_for_real(db, receiver, "ntfy", message="billing-nightly failed after 42 s: exit code 3")

    assert request.body == b"billing-nightly failed after 42 s: exit code 3"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    assert request.headers["title"] == "Critical: run_failed of billing-nightly"
    assert request.headers["priority"] == "5"
    assert request.headers["tags"] == "rotating_light,tocsin,run_failed,billing-nightly"
    assert request.headers["click"].startswith("http://tocsin.test/alerts/")
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert "webhook-signature" in request.headers and request.headers["x-tocsin-event"] == "alert.fired"

    recorded = {name.lower(): value for name, value in record.request_headers.items()}
    assert recorded["authorization"] == MASK and ACCESS_TOKEN not in str(record.request_headers)
    assert recorded["title"] == "Critical: run_failed of billing-nightly" and recorded["priority"] == "5"
    assert record.request_body == "billing-nightly failed after 42 s: exit code 3"


@pytest.mark.parametrize("severity, priority, tag", [("critical", "5", "rotating_light"), ("warning", "4", "warning"),
                                                      ("info", "3", "information_source")])
def test_priority_and_tag_follow_the_severity(app, severity, priority, tag):
    context = long_context("disk full")
    context["alert"]["severity"] = severity
    headers = ntfy.build("alert.fired", context, timestamp="t").headers
    assert headers["Priority"] == priority and headers["Tags"].split(",")[0] == tag
    assert "Authorization" not in headers  # no access token: no header


def test_a_resolution_says_so_at_the_default_priority(app):
    headers = ntfy.build("alert.resolved", long_context("disk full"), timestamp="t").headers
    assert headers["Title"].startswith("Resolved: ") and headers["Priority"] == "3"
    assert headers["Tags"].startswith("white_check_mark,")


def test_text_outside_ascii_goes_as_an_encoded_word_and_line_breaks_never_reach_a_header(app):
    context = long_context("disk full")
    context["job"]["name"] = "Facturation — nuit\r\nX-Injected: 1"
    title = ntfy.build("alert.fired", context, timestamp="t").headers["Title"]
    assert title.startswith("=?UTF-8?B?") and title.isascii() and "\n" not in title and "\r" not in title
    assert decoded(title) == "Critical: run_failed of Facturation — nuit X-Injected: 1"
    assert base64.b64decode(title[len("=?UTF-8?B?"):-2]).decode("utf-8") == decoded(title)


def test_the_access_token_is_optional_encrypted_masked_and_removable(api, db, receiver):
    plain = api.post("/endpoints", json={"name": "Phone", "url": receiver.url("/alerts"), "format": "ntfy"})
    assert plain.status_code == 201 and plain.get_json()["access_token"] is None

    created = api.post("/endpoints", json={"name": "Phone", "url": receiver.url("/alerts"), "format": "ntfy",
                                           "access_token": ACCESS_TOKEN}).get_json()
    assert created["access_token"] == MASK
    endpoint = db.session.get(Endpoint, created["id"])
    assert crypto.decrypt(endpoint.access_token_encrypted) == ACCESS_TOKEN

    result = api.post(f"/endpoints/{created['id']}/test").get_json()
    assert result["outcome"] == "success", result
    assert receiver.wait_for(1)[0].headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    db.session.rollback()
    record = db.session.scalar(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == result["delivery_id"]))
    assert ACCESS_TOKEN not in str(record.request_headers)

    assert api.patch(f"/endpoints/{created['id']}", json={"access_token": MASK}).get_json()["access_token"] == MASK
    assert api.patch(f"/endpoints/{created['id']}", json={"access_token": None}).get_json()["access_token"] is None
    bad = api.patch(f"/endpoints/{created['id']}", json={"access_token": "tk_one\nX-Evil: 1"})
    assert bad.status_code == 400 and "access_token" in bad.get_json()["error"]["fields"]


def test_the_message_is_cut_to_ntfys_4096_bytes(app):
    body = ntfy.build("alert.fired", long_context("é" * 10_000), timestamp="t").body
    assert len(body) <= ntfy.MESSAGE_BYTES_LIMIT == 4096 and body.decode("utf-8").endswith("…")
