"""In headless Chromium: the endpoint form shows the routing key only for PagerDuty and the
access token only for ntfy; a PagerDuty endpoint made there sends its key in a test alert and
never shows it again."""
import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser

ROUTING_KEY = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey32"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_a_credential_field_shows_for_its_format_and_its_value_is_never_shown_again(live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    page.goto(f"{live_server.url}/settings/alerts/endpoints/new")
    routing_key, access_token = page.get_by_label("Routing key"), page.get_by_label("Access token")
    expect(routing_key).to_be_hidden()
    expect(access_token).to_be_hidden()

    page.get_by_label("Payload format").select_option("ntfy")
    expect(access_token).to_be_visible()
    expect(routing_key).to_be_hidden()

    page.get_by_label("Payload format").select_option("pagerduty")
    expect(routing_key).to_be_visible()
    expect(access_token).to_be_hidden()
    page.get_by_label("Name").fill("On-call")
    page.get_by_label("URL").fill(receiver.url("/v2/enqueue"))
    routing_key.fill(ROUTING_KEY)
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", name="On-call")).to_be_visible()
    expect(page.locator("dl.settings")).to_contain_text("stored encrypted")
    assert ROUTING_KEY not in page.content()
    page.get_by_role("button", name="Send test alert").click()
    expect(page.locator("#test-outcome")).to_contain_text("delivered")
    [request] = receiver.wait_for(1)
    assert request.json()["routing_key"] == ROUTING_KEY and request.json()["event_action"] == "trigger"
    assert ROUTING_KEY not in page.content()
