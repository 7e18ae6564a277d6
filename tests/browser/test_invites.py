"""What two people see, in headless Chromium with CSRF on: the owner makes an invite link on
Settings → Invites and copies it from the page; the invitee opens it in a browser of their own,
signs up and works in the owner's workspace."""
import pytest
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_up_in_browser
from tests.support.factories import job_of, workspace_id_of
from webapp.extensions import db


def watch_policy_violations(page, violations: list) -> None:
    """Collect Content-Security-Policy violations (the pages here have no inline script or style)."""
    page.on("console", lambda message: violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', function (event) {"
                         " console.error('Content Security Policy: ' + event.violatedDirective); });")


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "TOCSIN_SIGNUP": "invite"}


def test_an_invite_link_copied_from_the_page_signs_a_colleague_up_into_the_workspace(app, live_server, page, browser):
    app.config["TOCSIN_BASE_URL"] = live_server.url  # the link must point at this server
    violations = []
    watch_policy_violations(page, violations)
    sign_up_in_browser(page, live_server.url)  # the first user, although sign-up is by invitation
    job_of(workspace_id_of(), "billing-nightly")
    db.session.commit()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.locator(".settings-card", has_text="Invites").click()
    expect(page.get_by_role("heading", name="Invites")).to_be_visible()
    page.get_by_label("Email").fill("colleague@example.com")
    page.get_by_role("button", name="Create invite link").click()
    shown = page.locator("#new-invite-link")
    expect(shown).to_be_visible()
    link = shown.inner_text().strip()
    assert link.startswith(live_server.url + "/invites/")
    expect(page.get_by_role("row").filter(has_text="colleague@example.com")).to_contain_text("pending")

    context = browser.new_context()
    try:
        colleague = context.new_page()
        colleague.set_default_timeout(10_000)
        watch_policy_violations(colleague, violations)
        colleague.goto(link)
        expect(colleague.get_by_role("heading", name="Join owner's workspace")).to_be_visible()
        expect(colleague.get_by_label("Email")).to_have_value("colleague@example.com")
        expect(colleague.get_by_label("Email")).not_to_be_editable()
        colleague.get_by_label("Password", exact=True).fill(PASSWORD)
        colleague.get_by_label("Repeat password").fill(PASSWORD)
        colleague.get_by_role("button", name="Create account").click()

        expect(colleague.get_by_role("heading", name="Overview")).to_be_visible()
        expect(colleague.get_by_text("You joined owner's workspace")).to_be_visible()
        expect(colleague.get_by_text("colleague@example.com")).to_be_visible()
        colleague.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
        expect(colleague.locator('[data-job="billing-nightly"]')).to_be_visible()

        colleague.get_by_role("button", name="Log out").click()
        colleague.goto(link)
        expect(colleague.get_by_text("This invite link is no longer valid")).to_be_visible()  # single use
    finally:
        context.close()

    page.reload()
    expect(page.get_by_role("row").filter(has_text="colleague@example.com")).to_contain_text("accepted")
    expect(page.locator("#new-invite-link")).to_have_count(0)
    assert violations == []
