"""Bulk actions on the Alerts page as a person uses them, in headless Chromium with CSRF on:
tick several firing alerts, acknowledge them with one button, then resolve one; the tabs'
counts and the flash say what happened, and each change is audited."""
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from webapp.extensions import db
from webapp.models import Alert, AuditEvent, Job, User
from webapp.timeutil import utcnow


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def add_alerts(workspace_id: int, messages: list[str]) -> list[int]:
    """Firing alerts as the matcher writes them (the delivery path has its own tests)."""
    job = Job(workspace_id=workspace_id, slug="nightly-report", name="nightly-report")
    db.session.add(job)
    db.session.flush()
    now = utcnow()
    alerts = [Alert(workspace_id=workspace_id, job_id=job.id, type="run_failed", severity="critical",
                    message=message, created_at=now, last_seen_at=now) for message in messages]
    db.session.add_all(alerts)
    db.session.commit()
    return [alert.id for alert in alerts]


def tab(page, name):
    return page.get_by_role("navigation", name="Alerts by state").get_by_role("link", name=re.compile(f"^{name}"))


def test_select_several_alerts_and_acknowledge_then_resolve_them_at_once(live_server, page, app):
    sign_up_in_browser(page, live_server.url)
    workspace_id = db.session.scalar(sa.select(User).where(User.email == "owner@example.com")).workspace_id
    first, second, third = add_alerts(workspace_id, ["backup failed", "billing failed", "report failed"])

    page.goto(live_server.url + "/alerts?state=firing")
    expect(tab(page, "Firing")).to_have_text(re.compile(r"Firing\s+3"))
    expect(tab(page, "Acknowledged")).to_have_text(re.compile(r"Acknowledged\s+0"))
    page.get_by_label(f"Select alert #{first}").check()
    page.get_by_label(f"Select alert #{second}").check()
    page.get_by_role("button", name="Acknowledge selected").click()

    expect(page.get_by_text("2 alerts acknowledged.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/alerts\?state=firing$"))  # back on the tab it was sent from
    expect(tab(page, "Acknowledged")).to_have_text(re.compile(r"Acknowledged\s+2"))
    # Unacknowledged first on the Firing tab: the one nobody acknowledged leads.
    expect(page.locator("tr[data-alert-id]").first).to_have_attribute("data-alert-id", str(third))

    page.get_by_label(f"Select alert #{third}").check()
    page.get_by_label(f"Select alert #{first}").check()
    page.get_by_role("button", name="Resolve selected").click()
    expect(page.get_by_text("2 alerts resolved.")).to_be_visible()
    expect(tab(page, "Firing")).to_have_text(re.compile(r"Firing\s+1"))
    expect(tab(page, "Resolved")).to_have_text(re.compile(r"Resolved\s+2"))

    tab(page, "Resolved").click()
    expect(page.locator("tr[data-alert-id]")).to_have_count(2)
    expect(page.get_by_text("resolved by owner@example.com at").first).to_be_visible()

    db.session.expire_all()
    actions = db.session.execute(sa.select(AuditEvent.action, AuditEvent.object_id)
                                 .where(AuditEvent.object_type == "alert").order_by(AuditEvent.id)).all()
    assert sorted(actions) == sorted([("alert.acknowledge", str(first)), ("alert.acknowledge", str(second)),
                                      ("alert.resolve", str(first)), ("alert.resolve", str(third))])


def test_bulk_buttons_without_a_selection_say_so(live_server, page, app):
    sign_up_in_browser(page, live_server.url)
    workspace_id = db.session.scalar(sa.select(User).where(User.email == "owner@example.com")).workspace_id
    add_alerts(workspace_id, ["backup failed"])
    page.goto(live_server.url + "/alerts")
    page.get_by_role("button", name="Resolve selected").click()
    expect(page.get_by_text("Select at least one alert first.")).to_be_visible()
    expect(tab(page, "Firing")).to_have_text(re.compile(r"Firing\s+1"))
