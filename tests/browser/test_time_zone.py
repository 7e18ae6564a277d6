"""A browser in Tokyo with no account setting: tocsin.js reports its zone in the `tz` cookie,
rewrites the first page's UTC times in place, and every later page comes from the server in Tokyo time."""
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.factories import job_of, workspace_id_of
from webapp.extensions import db
from webapp.models import Alert

RAISED = datetime(2026, 12, 2, 13, 3, 5, tzinfo=UTC)  # 22:03:05 in Tokyo


@pytest.fixture
def tokyo_page(browser):
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_up(page, base_url):
    page.goto(base_url + "/signup")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_a_tokyo_browser_sees_tokyo_times_once_its_cookie_is_set(live_server, tokyo_page):
    page = tokyo_page
    sign_up(page, live_server.url)
    workspace_id = workspace_id_of()
    alert = Alert(workspace_id=workspace_id, job_id=job_of(workspace_id, "nightly-report").id, type="run_failed",
                  severity="critical", message="billing failed", created_at=RAISED, last_seen_at=RAISED)
    db.session.add(alert)
    db.session.commit()

    # The sign-up page already ran tocsin.js: the cookie names the browser's zone.
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["tz"]["value"] == "Asia/Tokyo" and cookies["tz"]["sameSite"] == "Lax"

    page.goto(f"{live_server.url}/alerts/{alert.id}")
    raised = page.locator('time[data-kind="datetime"][datetime="2026-12-02T13:03:05Z"]').first
    expect(raised).to_have_text("2026-12-02 22:03:05 JST")  # rendered by the server from the cookie
    assert "data-zone-default" not in (raised.evaluate("element => element.outerHTML"))
    relative = page.locator('time[data-kind="ago"][datetime="2026-12-02T13:03:05Z"]').first
    expect(relative).to_have_attribute("title", "2026-12-02 22:03:05 Asia/Tokyo (UTC+09:00)")

    # The date-range picker is labelled with, and reads, Tokyo time.
    page.goto(live_server.url + "/alerts")
    expect(page.get_by_text("times in Asia/Tokyo")).to_be_visible()
    page.get_by_label("Since").fill("2026-12-02T22:00")
    page.get_by_label("Until").fill("2026-12-02T22:05")
    page.get_by_role("button", name="Show alerts").click()
    expect(page.get_by_role("link", name="billing failed")).to_be_visible()
    page.get_by_label("Since").fill("2026-12-02T22:04")
    page.get_by_role("button", name="Show alerts").click()
    expect(page.get_by_text("No alert matches these filters.")).to_be_visible()


def test_the_first_page_before_the_cookie_is_rewritten_in_the_browsers_zone(live_server, tokyo_page):
    page = tokyo_page
    sign_up(page, live_server.url)
    workspace_id = workspace_id_of()
    alert = Alert(workspace_id=workspace_id, job_id=job_of(workspace_id, "nightly-report").id, type="run_failed",
                  severity="critical", message="billing failed", created_at=RAISED, last_seen_at=RAISED)
    db.session.add(alert)
    db.session.commit()
    page.context.clear_cookies(name="tz")  # as on a first visit: the server does not know the zone yet

    page.goto(f"{live_server.url}/alerts/{alert.id}")
    raised = page.locator('time[data-kind="datetime"][datetime="2026-12-02T13:03:05Z"]').first
    expect(raised).to_have_text("2026-12-02 22:03:05 GMT+9")  # rewritten by tocsin.js
    expect(page.locator('time[data-kind="ago"]').first).to_have_attribute(
        "title", "2026-12-02 22:03:05 Asia/Tokyo (UTC+09:00)")
    page.reload()
    expect(raised).to_have_text("2026-12-02 22:03:05 JST")  # the server, now from the cookie
