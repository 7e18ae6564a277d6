"""The audit log in headless Chromium on a phone: long names and changes wrap, the page never
scrolls sideways, and its filter form narrows the list and clears again."""
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from tests.support.factories import saved_endpoint, workspace_id_of
from webapp.extensions import db
from webapp.services import endpoints as endpoint_service

LONG_NAME = "nightly-database-backup-receiver-on-db-01-eu-west-" * 2
LONG_TEMPLATE = '{"text": "' + "alert-" * 30 + '"}'


def test_the_audit_log_fits_a_phone_and_its_filters_narrow_and_clear(live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_up_in_browser(page, live_server.url)
        endpoint = saved_endpoint(workspace_id_of(), name="Ops hook")
        endpoint_service.update_endpoint(endpoint, {"name": LONG_NAME[:100], "format": "template",
                                                    "template": LONG_TEMPLATE})
        db.session.commit()

        page.goto(live_server.url + "/settings/audit-log")
        expect(page.get_by_role("link", name=LONG_NAME[:100])).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.get_by_label("Object type").select_option(label="Endpoint")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("cell", name="endpoint.update")).to_be_visible()
        expect(page.get_by_role("cell", name="user.signup")).to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.get_by_role("link", name="Clear filters").click()
        expect(page.get_by_role("cell", name="user.signup")).to_be_visible()
    finally:
        context.close()
