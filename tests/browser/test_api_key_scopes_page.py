"""The scope choice on the API-key page in headless Chromium on a phone: `ingest` is chosen
until the person picks otherwise (by keyboard too), each choice says what it allows, the reveal
names the new key's scope, and the keys table with its Scope column never scrolls the page
sideways; axe-core finds nothing serious."""
import pytest
from playwright.sync_api import expect

from tests.support.accessibility import blocking_violations, describe, install_axe, sideways_overflow
from tests.support.browser import sign_up_in_browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_a_phone_user_sees_ingest_proposed_and_can_choose_full_by_keyboard(live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    install_axe(context)
    page = context.new_page()
    try:
        sign_up_in_browser(page, live_server.url)
        page.goto(live_server.url + "/settings/api-keys")
        ingest, full = page.get_by_role("radio", name="ingest"), page.get_by_role("radio", name="full")
        expect(ingest).to_be_checked()
        expect(full).not_to_be_checked()
        expect(page.get_by_text("what a cron host needs")).to_be_visible()

        page.get_by_label("Key name").fill("cron on db-01")
        page.get_by_role("button", name="Create API key").click()
        expect(page.locator(".reveal")).to_contain_text("with scope ingest")

        page.get_by_label("Key name").fill("terraform-on-a-rather-long-named-automation-host-01")
        ingest.focus()
        page.keyboard.press("ArrowDown")  # radios move by arrow keys
        expect(full).to_be_checked()
        page.get_by_role("button", name="Create API key").click()
        expect(page.locator(".reveal")).to_contain_text("with scope full")
        expect(page.locator("#key-snippet-curl-once")).to_be_attached()  # the reveal keeps its snippets

        table = page.get_by_role("region", name="API keys")
        expect(table.get_by_role("columnheader", name="Scope")).to_be_attached()
        expect(table.get_by_role("row").filter(has_text="cron on db-01")).to_contain_text("ingest")
        expect(table.get_by_role("row").filter(has_text="terraform")).to_contain_text("full")
        assert sideways_overflow(page) == 0
        violations = blocking_violations(page)
        assert not violations, describe(violations)
    finally:
        context.close()
