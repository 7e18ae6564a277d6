"""What a person sees on a fresh Tocsin, in headless Chromium with CSRF on as in production:
sign up, land on the overview, create an API key that is shown exactly once, log out, log in."""
import re

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.browser import open_settings


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_sign_up_create_an_api_key_once_log_out_and_log_in_again(live_server, page):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Log in to Tocsin")).to_be_visible()

    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("Owner@Example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/overview")
    expect(page.get_by_text("owner@example.com")).to_be_visible()

    open_settings(page, "API keys")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.get_by_label("Key name").fill("nightly backup")
    page.get_by_role("button", name="Create API key").click()

    new_key = page.locator("#new-api-key")
    expect(new_key).to_be_visible()
    key = new_key.inner_text().strip()
    assert re.fullmatch(r"tk_[A-Za-z0-9_-]{20,}", key)
    row = page.get_by_role("row").filter(has_text="nightly backup")
    expect(row).to_contain_text(key[:10] + "…")
    expect(row).to_contain_text("active")

    page.reload()
    expect(page.get_by_role("row").filter(has_text="nightly backup")).to_be_visible()
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert key not in page.content()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Tocsin")).to_be_visible()
    page.goto(live_server.url + "/settings/api-keys")
    expect(page.get_by_role("heading", name="Log in to Tocsin")).to_be_visible()

    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Remember me on this browser").check()
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="API keys")).to_be_visible()  # back where the log-in wall stood
    expect(page.get_by_role("row").filter(has_text="nightly backup")).to_be_visible()
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["remember_token"]["httpOnly"]

