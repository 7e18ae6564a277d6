"""The moment Tocsin first does its job: in headless Chromium, with CSRF on as in
production, a new user adds a webhook pointing at a loopback receiver, presses *Send test alert*
and sees the receiver's answer and the latency; the receiver got one correctly signed request."""
import re

import pytest
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from tests.support.browser import open_settings, sign_up_in_browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_create_an_endpoint_and_send_a_test_alert_that_arrives_signed(live_server, page, receiver):
    receiver.respond(200, body='{"received": "yes, thanks"}')
    sign_up_in_browser(page, live_server.url)

    open_settings(page, "Endpoints")
    expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("Name").fill("Loopback receiver")
    page.get_by_label("URL").fill(receiver.url("/tocsin"))
    page.get_by_label("Custom headers").fill("X-Team: ops")
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", name="Loopback receiver")).to_be_visible()
    secret = page.locator("#endpoint-secret").inner_text().strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret)
    assert receiver.requests == []

    page.get_by_role("button", name="Send test alert").click()
    outcome = page.locator("#test-outcome")
    expect(outcome.locator(".http-status")).to_have_text("200")
    expect(outcome.locator(".duration")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(outcome).to_contain_text("delivered")
    expect(outcome).to_contain_text('{"received": "yes, thanks"}')
    expect(page.locator("#endpoint-secret")).to_have_count(0)  # shown once, gone after the next page

    (received,) = receiver.wait_for(1)
    assert received.path == "/tocsin"
    payload = Webhook(secret).verify(received.body, {name: received.headers[name] for name in
                                                     ("webhook-id", "webhook-timestamp", "webhook-signature")})
    assert payload["type"] == "alert.test"
    assert received.headers["x-team"] == "ops"
    assert received.headers["x-tocsin-event"] == "alert.test"

    page.get_by_role("link", name="All endpoints").click()
    row = page.get_by_role("row").filter(has_text="Loopback receiver")
    expect(row.locator(".badge.healthy")).to_be_visible()
    expect(row).to_contain_text("HTTP 200")
    assert len(receiver.requests) == 1
