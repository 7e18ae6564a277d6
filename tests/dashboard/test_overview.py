"""The overview page: counts with links to the filtered history, and server-rendered charts."""
from datetime import timedelta

import sqlalchemy as sa

from webapp.models import Delivery, DeliveryAttempt, Endpoint, Job, Run, User
from webapp.timeutil import utcnow


def _seed(db, workspace_id):
    endpoint = Endpoint(workspace_id=workspace_id, name="ops-hook", url="http://127.0.0.1:9/", secret_encrypted="x",
                        headers_encrypted={})
    job = Job(workspace_id=workspace_id, slug="nightly", name="nightly")
    db.session.add_all([endpoint, job])
    db.session.flush()
    deliveries = [Delivery(workspace_id=workspace_id, endpoint_id=endpoint.id, status=status, attempt_count=count)
                  for status, count in (("delivered", 1), ("delivered", 1), ("dead", 8), ("pending", 2))]
    db.session.add_all(deliveries)
    db.session.flush()
    for delivery, (duration, outcome) in zip(deliveries, ((40, "success"), (60, "success"), (900, "server_error"),
                                                          (500, "timeout")), strict=True):
        db.session.add(DeliveryAttempt(workspace_id=workspace_id, delivery_id=delivery.id, number=1,
                                       duration_ms=duration, outcome=outcome))
    db.session.add(Run(workspace_id=workspace_id, job_id=job.id, deadline_at=utcnow() + timedelta(minutes=5)))
    db.session.commit()


def test_overview_shows_counts_chart_and_endpoint_health(client, auth, db):
    auth.signup()
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    _seed(db, workspace_id)

    html = client.get("/overview").get_data(as_text=True)

    assert "/settings/alerts/deliveries?status=dead" in html
    assert "<svg" in html and "2 delivered" in html and "1 dead" in html
    assert "ops-hook" in html and "50.0 %" in html and "900 ms" in html  # p95 of 40, 60, 500, 900
    assert "nightly" in html  # the open run near its deadline


def test_overview_of_an_empty_workspace_says_no_endpoints_yet(client, auth):
    auth.signup()
    response = client.get("/overview")
    assert response.status_code == 200
    assert "No endpoints yet" in response.get_data(as_text=True)
