"""A new user's first run in headless Chromium, with CSRF on as in production: the overview's
checklist leads through each step (API key, a reported run, an endpoint, a test alert, a rule) and
ticks it off; the curl snippet copied from the new key's page runs as-is and its job appears."""
import subprocess

import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from webapp.services import first_run


@pytest.fixture
def app_config():
    # TOCSIN_BASE_URL left at its default: the snippets must use the address the browser used.
    return {"WTF_CSRF_ENABLED": True, "TOCSIN_BASE_URL": first_run.DEFAULT_BASE_URL}


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def checklist_shows(page, live_server, done: list[str]) -> None:
    """Open the overview and check which steps it shows ticked off."""
    page.goto(live_server.url + "/overview")
    steps = page.locator("#first-run li.step")
    expect(steps).to_have_count(5)
    expect(page.locator("#first-run")).to_contain_text(f"{len(done)} of 5 steps done")
    for key in ("api_key", "run", "endpoint", "test_alert", "rule"):
        step = page.locator(f'#first-run li[data-step="{key}"]')
        expect(step.locator(".step-state")).to_have_text("Done" if key in done else "To do")


def test_the_checklist_ticks_off_as_a_new_user_does_each_step(live_server, page, receiver):
    receiver.respond(200, body="ok")
    sign_up_in_browser(page, live_server.url)
    checklist = page.locator("#first-run")
    expect(checklist.get_by_role("heading", name="Get started")).to_be_visible()
    checklist_shows(page, live_server, done=[])
    placeholder = page.locator("#overview-snippet-curl-once")
    expect(placeholder).to_be_hidden()  # folded under "Report a run" until that is the next step
    checklist.get_by_text("Snippets to report a run").click()
    expect(placeholder).to_be_visible()
    expect(placeholder).to_contain_text(f'"{live_server.url}/api/v1/runs"')
    expect(placeholder).to_contain_text("Bearer $TOCSIN_API_KEY")

    # 1. An API key, from the checklist's own link; its page fills the key into the snippets.
    checklist.get_by_role("link", name="Create an API key").click()
    page.get_by_label("Key name").fill("nightly backup")
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-api-key").inner_text().strip()
    snippet = page.locator("#key-snippet-curl-start-finish")
    expect(snippet).to_contain_text(f"Bearer {key}")
    page.get_by_role("button", name="Copy curl: start a run, then finish it").click()
    expect(page.locator(".copy-status")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == snippet.text_content()

    # 2. The copied snippet, pasted into a shell as it is.
    result = subprocess.run(["bash", "-c", copied], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    page.goto(live_server.url + "/jobs")
    row = page.locator('tr[data-job="nightly-backup"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("succeeded")
    checklist_shows(page, live_server, done=["api_key", "run"])

    # 3. An endpoint.
    checklist.get_by_role("link", name="Add an endpoint").click()
    page.get_by_label("Name").fill("Loopback receiver")
    page.get_by_label("URL").fill(receiver.url("/tocsin"))
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("heading", name="Loopback receiver")).to_be_visible()
    checklist_shows(page, live_server, done=["api_key", "run", "endpoint"])

    # 4. A test alert, sent from the checklist.
    checklist.get_by_role("button", name="Send a test alert to “Loopback receiver”").click()
    expect(page.locator("#test-outcome")).to_contain_text("delivered")
    receiver.wait_for(1)
    checklist_shows(page, live_server, done=["api_key", "run", "endpoint", "test_alert"])

    # 5. A rule; then the checklist goes away and the counts stay.
    checklist.get_by_role("link", name="Create a rule").click()
    page.get_by_label("Name").fill("Backups failing")
    page.get_by_label("When").select_option("run_failed")
    page.get_by_label("Loopback receiver").check()
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("heading", name="Backups failing")).to_be_visible()
    page.goto(live_server.url + "/overview")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#first-run")).to_have_count(0)
    expect(page.get_by_text("firing alerts")).to_be_visible()
