"""Every page works under the strict Content-Security-Policy: loaded in Chromium, none reports a
violation (an inline script or style, a foreign source), and the scripted parts still act."""
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from tests.support.factories import saved_alert, saved_attempt, saved_delivery, saved_endpoint, saved_rule
from webapp.extensions import db
from webapp.models import Job, Run, User


def seed(workspace_id: int) -> dict:
    endpoint = saved_endpoint(workspace_id)
    rule = saved_rule(workspace_id, endpoints=[endpoint])
    job = Job(workspace_id=workspace_id, slug="billing-nightly", name="Billing", schedule={"every_seconds": 3600})
    db.session.add(job)
    db.session.flush()
    db.session.add(Run(workspace_id=workspace_id, job_id=job.id, status="failed", message="exit 3"))
    alert = saved_alert(workspace_id, rule=rule)
    alert.job_id = job.id
    delivery = saved_delivery(endpoint, alert=alert, rule=rule, status="dead")
    saved_attempt(delivery, 1, 500, "server_error")
    return {"endpoint": endpoint.id, "rule": rule.id, "alert": alert.id, "delivery": delivery.id, "job": job.slug}


def test_every_page_loads_under_the_policy_with_no_violation(live_server, page):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', function (event) {"
                         " console.error('Content Security Policy: ' + event.violatedDirective + ' ' +"
                         " event.blockedURI); });")
    for path in ("/login", "/signup"):
        page.goto(live_server.url + path)
    sign_up_in_browser(page, live_server.url)
    ids = seed(db.session.scalar(sa.select(User)).workspace_id)
    pages = [
        "/overview", "/jobs", f"/jobs/{ids['job']}", "/alerts", f"/alerts/{ids['alert']}",
        "/settings/alerts/endpoints", "/settings/alerts/endpoints/new", f"/settings/alerts/endpoints/{ids['endpoint']}",
        f"/settings/alerts/endpoints/{ids['endpoint']}/edit", f"/settings/alerts/endpoints/{ids['endpoint']}/rotate",
        f"/settings/alerts/endpoints/{ids['endpoint']}/delete", "/settings/alerts/rules", "/settings/alerts/rules/new",
        f"/settings/alerts/rules/{ids['rule']}", f"/settings/alerts/rules/{ids['rule']}/edit",
        f"/settings/alerts/rules/{ids['rule']}/delete", "/settings/alerts/deliveries",
        f"/settings/alerts/deliveries/{ids['delivery']}", "/settings/api-keys", "/settings/audit-log", "/settings/invites",
    ]
    for path in pages:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
    assert violations == []


def test_the_scripted_parts_still_act_under_the_policy(live_server, page):
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/settings/alerts/rules/new")
    threshold = page.get_by_label("Slower than (seconds)")
    page.get_by_label("When").select_option("run_failed")
    expect(threshold).to_be_hidden()
    page.get_by_label("When").select_option("run_slow")
    expect(threshold).to_be_visible()
