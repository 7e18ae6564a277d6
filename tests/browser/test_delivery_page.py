"""What a person sees of a delivery retried three times, in headless Chromium: a page far
shorter than the old one (3,176 px for 3 attempts), the request shown once, attempts as rows
that open by keyboard to the receiver's answer, nothing scrolling sideways at 390 px, and
"Retry now" sending a waiting delivery at once."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from tests.support.factories import make_delivery, make_endpoint
from webapp.models import Delivery, User, Workspace
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

LONG_BODY = '{"error": "upstream exploded", "trace": "' + "frame/" * 120 + '"}'


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def attempt_due(app, db) -> None:
    db.session.execute(sa.update(Delivery).where(Delivery.status == "pending").values(next_attempt_at=utcnow()))
    db.session.commit()
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle(timeout=20)


def delivery_with_attempts(app, db, receiver, failures: int) -> Delivery:
    """A real alert delivery whose first `failures` attempts got 500 with a long JSON body."""
    workspace = db.session.get(Workspace, db.session.scalar(sa.select(User)).workspace_id)
    endpoint, _ = make_endpoint(workspace, receiver.url("/hooks/" + "very-long-path-segment-" * 8),
                                name="Ops receiver")
    delivery = make_delivery(endpoint)
    db.session.commit()
    for _ in range(failures):
        receiver.respond(500, body=LONG_BODY, headers={"Content-Type": "application/json", "X-Request-Id": "r-1"})
    for _ in range(failures + 1):
        attempt_due(app, db)
    db.session.rollback()
    return db.session.get(Delivery, delivery.id, populate_existing=True)


def test_three_attempts_fit_a_short_page_and_open_by_keyboard(app, db, live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    delivery = delivery_with_attempts(app, db, receiver, failures=2)
    assert delivery.attempt_count == 3
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/settings/alerts/deliveries/{delivery.id}")
    expect(page.locator("details.attempt")).to_have_count(3)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 1500, f"the page is {height} px tall for 3 attempts"
    expect(page.locator("pre.request-headers")).to_have_count(1)
    expect(page.locator("pre.request-headers")).to_contain_text("webhook-signature: v1,••••")

    first = page.locator("#attempt-1")
    expect(first.locator(".response-headers")).to_be_hidden()
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(first.locator(".response-headers")).to_be_visible()
    expect(first.locator(".response-headers")).to_contain_text("X-Request-Id: r-1")
    expect(first.locator(".response-body")).to_contain_text('"error": "upstream exploded"')
    expect(first.locator(".failure-hint")).to_contain_text("The receiver failed while handling the request")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator("#attempt-1 summary").click()
    expect(page.locator("#attempt-1 .response-body")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_retry_now_button_sends_the_waiting_delivery_at_once(app, db, live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    workspace = db.session.get(Workspace, db.session.scalar(sa.select(User)).workspace_id)
    endpoint, _ = make_endpoint(workspace, receiver.url(), name="Ops receiver")
    delivery = make_delivery(endpoint)
    db.session.commit()
    receiver.respond(500)
    attempt_due(app, db)
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery.id)
                       .values(next_attempt_at=utcnow() + timedelta(hours=1)))
    db.session.commit()

    page.goto(f"{live_server.url}/settings/alerts/deliveries/{delivery.id}")
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status")).to_contain_text("is on its way")
    assert receiver.wait_for(2)[1].headers["webhook-id"] == delivery.message_id
    assert pool.wait_idle(timeout=20)
    page.reload()
    expect(page.locator(".delivery-title .badge")).to_have_text("Delivered")
    expect(page.get_by_role("button", name="Retry now")).to_have_count(0)
