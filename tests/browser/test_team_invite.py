"""What a team sees, in headless Chromium with CSRF on: the owner invites a colleague as a viewer,
the colleague accepts in a browser of their own and sees the workspace (and is refused a change
with a plain sentence); a person with an account of their own logs in from the link and switches
between their two workspaces from the header."""
import pytest
from playwright.sync_api import expect

from tests.browser.test_invites import watch_policy_violations
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_up_in_browser
from tests.support.factories import job_of, workspace_id_of
from webapp.extensions import db
from webapp.services import accounts


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "TOCSIN_SIGNUP": "invite"}


def make_invite(page, base_url: str, email: str, role_label: str) -> str:
    page.goto(base_url + "/settings/invites")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role").select_option(label=role_label)
    page.get_by_role("button", name="Create invite link").click()
    shown = page.locator("#new-invite-link")
    expect(shown).to_be_visible()
    return shown.inner_text().strip()


def test_an_invited_viewer_sees_the_workspace_and_a_member_with_two_switches_between_them(
        app, live_server, page, browser):
    app.config["TOCSIN_BASE_URL"] = live_server.url
    violations = []
    watch_policy_violations(page, violations)
    sign_up_in_browser(page, live_server.url)
    job_of(workspace_id_of(), "billing-nightly")
    accounts.create_user("ops@example.com", PASSWORD)  # has a workspace of their own already
    job_of(workspace_id_of("ops@example.com"), "ops-backup")
    db.session.commit()
    expect(page.locator("#workspace-switch")).to_have_count(0)  # one workspace: no switcher

    viewer_link = make_invite(page, live_server.url, "viewer@example.com", "Viewer: reads every page, changes nothing")
    ops_link = make_invite(page, live_server.url, "ops@example.com", "Admin: changes everything but members")

    context = browser.new_context()
    try:
        viewer = context.new_page()
        viewer.set_default_timeout(10_000)
        watch_policy_violations(viewer, violations)
        viewer.goto(viewer_link)
        expect(viewer.get_by_text("as viewer")).to_be_visible()
        viewer.get_by_label("Password", exact=True).fill(PASSWORD)
        viewer.get_by_label("Repeat password").fill(PASSWORD)
        viewer.get_by_role("button", name="Create account").click()
        expect(viewer.get_by_text("You joined owner's workspace as viewer")).to_be_visible()
        viewer.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
        expect(viewer.locator('[data-job="billing-nightly"]')).to_be_visible()
        viewer.goto(live_server.url + "/settings/members")
        expect(viewer.get_by_role("row").filter(has_text="viewer@example.com")).to_contain_text("viewer")
        expect(viewer.get_by_role("button", name="Change role")).to_have_count(0)
        viewer.goto(live_server.url + "/settings/api-keys")
        viewer.get_by_label("Key name").fill("sneaky")
        viewer.get_by_role("button", name="Create API key").click()
        expect(viewer.get_by_text("Viewers can read every page but cannot change anything: ask an owner or admin."))\
            .to_be_visible()
    finally:
        context.close()

    context = browser.new_context()
    try:
        ops = context.new_page()
        ops.set_default_timeout(10_000)
        watch_policy_violations(ops, violations)
        ops.goto(ops_link)
        expect(ops.get_by_text("This address already has an account")).to_be_visible()
        ops.get_by_label("Password", exact=True).fill(PASSWORD)
        ops.get_by_role("button", name="Log in and join").click()
        expect(ops.get_by_text("You joined owner's workspace as admin")).to_be_visible()
        ops.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
        expect(ops.locator('[data-job="billing-nightly"]')).to_be_visible()
        expect(ops.locator('[data-job="ops-backup"]')).to_have_count(0)

        ops.get_by_label("Workspace").select_option(label="ops's workspace (owner)")
        ops.get_by_role("button", name="Switch").click()
        expect(ops.get_by_text("You are now working in ops's workspace (owner).")).to_be_visible()
        ops.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
        expect(ops.locator('[data-job="ops-backup"]')).to_be_visible()
        expect(ops.locator('[data-job="billing-nightly"]')).to_have_count(0)
    finally:
        context.close()
    assert violations == []


@pytest.fixture
def axe_context(browser):
    from tests.browser.test_every_page import install_axe

    context = browser.new_context()
    context.set_default_timeout(10_000)
    install_axe(context)
    yield context
    context.close()


def test_the_team_pages_fit_a_phone_and_pass_axe_with_the_switcher_shown(app, axe_context, live_server, auth, client):
    from tests.browser.test_every_page import audit, log_in
    from tests.support.teams import invite_link

    member = "second-owner-with-a-rather-long-address@example.com"
    app.config.update(WTF_CSRF_ENABLED=False, TOCSIN_SIGNUP="open")  # set up through the test client
    auth.signup()
    accounts.create_user(member, PASSWORD)
    db.session.commit()
    assert app.test_client().post(invite_link(client, member, "admin"), data={"password": PASSWORD}).status_code == 302
    invite_link(client, "pending-colleague@example.com", "viewer")
    app.config["WTF_CSRF_ENABLED"] = True
    page = axe_context.new_page()
    log_in(page, live_server.url, member)
    expect(page.locator("#workspace-switch")).to_be_visible()
    problems = audit(page, live_server.url, ["/settings/members", "/settings/account", "/settings/invites"])
    assert not problems, "\n".join(problems)
