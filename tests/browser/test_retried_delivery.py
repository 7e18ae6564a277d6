"""What a person sees of a retried delivery: in headless Chromium, the history shows
an alert whose receiver failed once as "Retrying", then — after the retry job ran —
as "Delivered"; its page lists both attempts with their HTTP statuses."""
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from tests.support.factories import make_delivery, make_endpoint
from webapp.models import Delivery, User, Workspace
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def run_retry_job(app, db) -> None:
    """One turn of the scheduler's retry job with the back-off skipped (no waiting in tests)."""
    db.session.execute(sa.update(Delivery).where(Delivery.status == "pending").values(next_attempt_at=utcnow()))
    db.session.commit()
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle()


def test_delivery_moves_from_retrying_to_delivered_and_its_page_shows_both_attempts(app, db, live_server, page,
                                                                                    receiver):
    sign_up_in_browser(page, live_server.url)
    workspace = db.session.get(Workspace, db.session.scalar(sa.select(User)).workspace_id)
    endpoint, _ = make_endpoint(workspace, receiver.url(), name="Ops receiver")
    delivery = make_delivery(endpoint)
    db.session.commit()
    delivery_id, message_id = delivery.id, delivery.message_id
    receiver.respond(500, body="database is down")  # then the default 200

    run_retry_job(app, db)
    page.goto(live_server.url + "/settings/alerts/deliveries")
    row = page.locator(f'tr[data-delivery-id="{delivery_id}"]')
    expect(row.locator(".badge")).to_have_text("Retrying")
    expect(row).to_contain_text("attempt 1 of 8")
    expect(row).to_contain_text("500")

    run_retry_job(app, db)
    page.reload()
    expect(row.locator(".badge")).to_have_text("Delivered")
    expect(row).to_contain_text("attempt 2 of 8")

    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=f"Delivery {message_id}")).to_be_visible()
    first, second = page.locator("#attempt-1"), page.locator("#attempt-2")
    expect(first.locator("summary")).to_contain_text("Attempt 1")
    expect(first.locator("summary")).to_contain_text("HTTP 500")
    first.locator("summary").click()
    expect(first.locator(".http-status")).to_have_text("500")
    expect(first).to_contain_text("database is down")
    expect(second.locator("summary")).to_contain_text("Attempt 2")
    second.locator("summary").click()
    expect(second.locator(".http-status")).to_have_text("200")
    expect(page.locator("details.attempt")).to_have_count(2)
    expect(page.get_by_text("webhook-signature: v1,••••").first).to_be_visible()
    assert [request.headers["webhook-id"] for request in receiver.requests] == [message_id, message_id]
