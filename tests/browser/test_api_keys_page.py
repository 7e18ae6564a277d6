"""The API-key page in headless Chromium, with CSRF on: a new key is copied with its Copy button
(and still without the Clipboard API), the page with the key and its snippets fits a phone, and
revoking a key takes a confirmation that works by keyboard."""
import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def new_context_page(browser, **options):
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def create_key(page, base_url: str, name: str = "nightly cron") -> str:
    page.goto(base_url + "/settings/api-keys")
    page.get_by_label("Key name").fill(name)
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-api-key")
    expect(key).to_be_visible()
    return key.inner_text().strip()


def test_the_copy_button_copies_the_new_key_and_says_so(live_server, browser):
    context, page = new_context_page(browser, permissions=["clipboard-read", "clipboard-write"])
    try:
        sign_up_in_browser(page, live_server.url)
        key = create_key(page, live_server.url)
        page.get_by_role("button", name="Copy the API key").click()
        status = page.locator(".copy-status")
        expect(status).to_have_text("Copied")
        assert status.get_attribute("aria-live") == "polite"
        assert page.evaluate("navigator.clipboard.readText()") == key
        expect(page.locator('button.copy[data-copy-target="#new-api-key"]')).to_have_attribute("data-copied", "Copied")
    finally:
        context.close()


def test_without_the_clipboard_api_the_copy_button_still_copies_or_selects_the_text(live_server, browser):
    context, page = new_context_page(browser)
    context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    try:
        sign_up_in_browser(page, live_server.url)
        key = create_key(page, live_server.url)
        page.get_by_role("button", name="Copy the API key").click()
        expect(page.locator(".copy-status")).to_have_text(
            re.compile(r"^(Copied|Selected: press Ctrl\+C)"))
        assert page.evaluate("window.getSelection().toString()").strip() == key
    finally:
        context.close()


def test_the_new_key_page_with_its_snippets_fits_a_phone(live_server, browser):
    context, page = new_context_page(browser, viewport={"width": 390, "height": 844})
    try:
        sign_up_in_browser(page, live_server.url)
        create_key(page, live_server.url, name="a-rather-long-key-name-for-the-nightly-database-backup-on-db-01")
        expect(page.locator("#key-snippet-python")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.goto(live_server.url + "/overview")
        expect(page.locator("#overview-snippet-crontab")).to_be_visible()  # open: reporting a run is next
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


def test_revoking_a_key_asks_first_and_works_by_keyboard(live_server, page):
    sign_up_in_browser(page, live_server.url)
    create_key(page, live_server.url)
    page.goto(live_server.url + "/settings/api-keys")
    row = page.get_by_role("row").filter(has_text="nightly cron")

    row.get_by_role("link", name="Revoke “nightly cron”…").click()  # one click: a question, not a revoke
    expect(page.get_by_role("heading", name="Revoke API key “nightly cron”?")).to_be_visible()
    expect(page.get_by_text("401 Unauthorized")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("row").filter(has_text="nightly cron")).to_contain_text("active")

    revoke = page.get_by_role("row").filter(has_text="nightly cron").get_by_role("link", name="Revoke")
    revoke.focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Revoke key")
    expect(confirm).to_be_visible()
    confirm.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("revoked: requests using it now get 401")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="nightly cron")).to_contain_text("revoked")
