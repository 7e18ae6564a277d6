"""Rules and alerts as a person lives them, in headless Chromium with CSRF on: add a webhook and a
rule "when a nightly job fails, POST to it" through the forms, let a job report a failure through
the API, then see the alert delivered on the Alerts page and acknowledge it."""
import re

import pytest
import requests
from playwright.sync_api import expect
from standardwebhooks import Webhook

from tests.support.browser import open_settings, sign_up_in_browser
from webapp.services.delivery import pool


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def create_api_key(page) -> str:
    open_settings(page, "API keys")
    page.get_by_label("Key name").fill("nightly cron")
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-api-key")
    expect(key).to_be_visible()
    return key.inner_text().strip()


def create_endpoint(page, url) -> str:
    open_settings(page, "Endpoints")
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("Name").fill("Ops webhook")
    page.get_by_label("URL").fill(url)
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("heading", name="Ops webhook")).to_be_visible()
    return page.locator("#endpoint-secret").inner_text().strip()


def test_rule_form_shows_only_the_parameter_the_chosen_event_needs(live_server, page):
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/settings/alerts/rules/new")
    threshold, streak = page.get_by_label("Slower than (seconds)"), page.get_by_label("Failures in a row")
    event = page.get_by_label("When")

    expect(threshold).to_be_hidden()
    expect(streak).to_be_hidden()
    event.select_option("run_slow")
    expect(threshold).to_be_visible()
    expect(streak).to_be_hidden()
    event.select_option("consecutive_failures")
    expect(streak).to_be_visible()
    expect(threshold).to_be_hidden()
    event.select_option("run_timed_out")
    expect(threshold).to_be_hidden()
    expect(streak).to_be_hidden()
    expect(page.get_by_label("Severity")).to_be_visible()
    expect(page.get_by_label("Cooldown (seconds)")).to_be_visible()


def test_failed_run_reported_through_the_api_shows_as_a_delivered_alert_and_is_acknowledged(
        live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    key = create_api_key(page)
    secret = create_endpoint(page, receiver.url("/tocsin"))

    open_settings(page, "Rules")
    expect(page.get_by_text("No rules yet")).to_be_visible()
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Nightly jobs failing")
    page.get_by_label("When").select_option("run_failed")
    page.get_by_label("Jobs").fill("nightly-*")
    page.get_by_label("Severity").select_option("critical")
    page.get_by_label("Ops webhook").check()
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("heading", name="Nightly jobs failing")).to_be_visible()
    expect(page.get_by_text("Rule “Nightly jobs failing” created.")).to_be_visible()

    response = requests.post(live_server.url + "/api/v1/runs", timeout=10,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"job": "nightly-report", "status": "failed", "duration_ms": 42_000,
                                   "message": "exit code 3"})
    assert response.status_code == 201, response.text

    (received,) = receiver.wait_for(1)
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["data"]["alert"]["message"] == "nightly-report failed after 42 s: exit code 3"
    assert pool.wait_idle(10)  # the attempt's outcome is written once the pool is idle

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    row = page.get_by_role("row").filter(has_text="nightly-report failed after 42 s: exit code 3")
    expect(row).to_be_visible()
    expect(row.locator('[data-delivery-status="delivered"]')).to_have_text(re.compile(r"Ops webhook: delivered"))
    expect(row.locator(".badge.critical")).to_be_visible()

    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text(re.compile(r"Alert #\d+ acknowledged\."))).to_be_visible()
    row = page.get_by_role("row").filter(has_text="nightly-report failed after 42 s: exit code 3")
    expect(row).to_contain_text("acknowledged by owner@example.com at")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_label("Acknowledged").select_option("no")
    page.get_by_role("button", name="Show alerts").click()
    expect(page.get_by_text("No alert matches these filters.")).to_be_visible()
    assert len(receiver.requests) == 1
