"""The endpoint form's signature settings as a person sees them in headless Chromium: only the
chosen scheme's header field shows, choosing a preset format proposes the scheme "none", and a
hex endpoint's page shows its verification snippet with the real header name; its test alert
verifies with the spec."""
import pytest
from playwright.sync_api import expect

from tests.signing.test_hex_schemes import PASTED, spec_hex
from tests.support.browser import sign_up_in_browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_the_form_shows_the_chosen_scheme_fields_and_proposes_none_for_slack(live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/settings/alerts/endpoints/new")
    scheme = page.get_by_label("Signature scheme")
    header = page.get_by_label("Signature header", exact=True)
    prefix = page.get_by_label("Signature header prefix")
    expect(scheme).to_have_value("standard-webhooks")
    expect(header).to_be_hidden()
    expect(prefix).to_be_hidden()

    scheme.select_option("timestamped-hmac-hex")
    expect(prefix).to_be_visible()
    expect(header).to_be_hidden()

    page.get_by_label("Payload format").select_option("slack")
    expect(scheme).to_have_value("none")
    expect(page.locator(".scheme-proposal")).to_contain_text("set to “None”")
    expect(page.get_by_label("Signing secret (optional)")).to_be_hidden()

    page.get_by_label("Payload format").select_option("json")
    scheme.select_option("hmac-sha256-hex")
    expect(page.locator(".scheme-proposal")).to_be_hidden()
    page.get_by_label("Name").fill("Cidadao")
    page.get_by_label("URL").fill(receiver.url("/cidadao"))
    header.fill("X-Cidadao-Signature")
    page.get_by_label("Signing secret (optional)").fill(PASTED)
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", name="Cidadao")).to_be_visible()
    expect(page.locator("dd", has_text="X-Cidadao-Signature: sha256=<hex>")).to_be_visible()
    expect(page.locator('pre.snippet[data-language="Node.js"]')).to_contain_text('headers["x-cidadao-signature"]')
    page.get_by_role("button", name="Send test alert").click()
    expect(page.locator("#test-outcome")).to_contain_text("delivered")
    [request] = receiver.wait_for(1)
    assert request.headers["x-cidadao-signature"] == spec_hex(PASTED, request.body)
