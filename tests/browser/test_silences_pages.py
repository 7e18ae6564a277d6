"""Settings → Silences as a person sees it in Chromium: the list (with an active silence with a
long comment, a weekly upcoming one and an expired one) and the create form fit a 390 px phone
and pass axe-core; "Silence 1 h" on an alert page creates the silence and says so."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.browser.test_every_page import LONG_TEXT, audit, log_in
from tests.support.accessibility import install_axe
from webapp.models import Alert, Silence
from webapp.services.delivery import pool
from webapp.timeutil import isoformat, utcnow


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    install_axe(context)
    yield context
    context.close()


def test_silence_pages_fit_a_phone_and_pass_axe(context, live_server, api, db):
    soon = utcnow() + timedelta(hours=2)
    active = api.post("/silences", json={"job_filter": "nightly-" + "stacktrace-without-spaces-" * 7,
                                         "ends_at": isoformat(soon), "comment": "database upgrade " + LONG_TEXT})
    assert active.status_code == 201, active.get_json()
    api.post("/silences", json={"job_filter": "*", "starts_at": isoformat(soon), "weekly": {
        "weekdays": ["sat", "sun"], "start_time": "22:00", "end_time": "06:00", "timezone": "Europe/Paris"}})
    ended = api.post("/silences", json={"job_filter": "billing-*", "ends_at": isoformat(soon)}).get_json()
    api.patch(f"/silences/{ended['id']}", json={"ends_at": "now"})
    page = context.new_page()
    log_in(page, live_server.url)
    problems = audit(page, live_server.url, ["/settings/silences", "/settings/silences/new"])
    assert not problems, "\n".join(problems)


def test_silence_one_hour_from_an_alert_page(page, live_server, api, db):
    api.post("/runs", json={"job": "nightly-backup", "status": "failed"})
    endpoint = api.post("/endpoints", json={"name": "Ops", "url": "http://127.0.0.1:9/hook"}).get_json()
    api.post("/rules", json={"name": "Failures", "event": "run_failed", "endpoint_ids": [endpoint["id"]]})
    api.post("/runs", json={"job": "nightly-backup", "status": "failed"})
    pool.wait_idle(10)
    alert_id = db.session.scalar(sa.select(Alert.id))
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/alerts/{alert_id}")
    page.get_by_role("button", name="Silence 1 h").click()
    page.wait_for_url(f"**/alerts/{alert_id}")
    assert "Silence #" in page.locator("body").inner_text()
    db.session.expire_all()
    [silence] = db.session.scalars(sa.select(Silence)).all()
    assert silence.job_filter == "nightly-backup"
