"""The acceptance criterion of our first users, end to end over real HTTP: "when a nightly job
fails, POST a signed alert to my webhook" — once, only for matching runs, only to my endpoints."""
import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from webapp.models import Delivery, DeliveryAttempt, Run, User
from webapp.services.delivery import pool


@pytest.fixture(autouse=True)
def drain_send_pool():
    """No test leaves a first attempt running into the next one's database."""
    yield
    pool.wait_idle(10)


def make_endpoint(api, receiver, path="/hook", name="Ops webhook") -> tuple[int, str]:
    response = api.post("/endpoints", json={"name": name, "url": receiver.url(path)})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["id"], body["secret"]


def make_rule(api, endpoint_ids, **fields) -> dict:
    body = {"name": "Nightly jobs failing", "event": "run_failed", "job_filter": "nightly-*",
            "severity": "critical", "endpoint_ids": endpoint_ids, "cooldown_seconds": 0, **fields}
    response = api.post("/rules", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def report(api, **body):
    response = api.post("/runs", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def settle(db):
    """Wait for the send pool, then read what its own sessions wrote."""
    assert pool.wait_idle(10)
    db.session.expire_all()


def deliveries(db):
    return db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()


def test_failed_nightly_run_posts_exactly_one_signed_alert_with_the_documented_body(api, db, receiver):
    endpoint_id, secret = make_endpoint(api, receiver)
    rule = make_rule(api, [endpoint_id])

    run = report(api, job="nightly-report", status="failed", duration_ms=42_000, message="exit code 3",
                 external_id="gha-8812")

    [request] = receiver.wait_for(1)
    settle(db)
    assert len(receiver.requests) == 1
    assert request.method == "POST" and request.path == "/hook"
    # A receiver verifies with any Standard Webhooks library; this one raises on a bad signature.
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload == json.loads(request.body)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tocsin-event"] == "alert.fired"  # the payload type, as the body's `type`
    assert request.headers["x-tocsin-alert-type"] == "run_failed"  # the event that raised the alert
    assert request.headers["user-agent"].startswith("Tocsin/")

    assert payload["type"] == "alert.fired"
    datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    data = payload["data"]
    [delivery] = deliveries(db)
    alert = delivery.alert
    assert request.headers["webhook-id"] == delivery.message_id
    assert data["alert"]["id"] == str(alert.id)
    assert data["alert"]["type"] == "run_failed"
    assert data["alert"]["severity"] == "critical"
    assert data["alert"]["message"] == "nightly-report failed after 42 s: exit code 3"
    assert data["alert"]["repeat_count"] == 1
    assert data["alert"]["url"] == f"http://tocsin.test/alerts/{alert.id}"
    assert data["rule"] == {"id": str(rule["id"]), "name": "Nightly jobs failing"}
    assert data["job"] == {"slug": "nightly-report", "name": "nightly-report"}
    assert data["run"]["id"] == str(run["id"])
    assert data["run"]["external_id"] == "gha-8812"
    assert data["run"]["status"] == "failed"
    assert data["run"]["duration_ms"] == 42_000
    assert data["run"]["deadline_at"] is None
    assert data["run"]["started_at"] and data["run"]["finished_at"]
    owner = db.session.scalar(sa.select(User).where(User.email == "owner@example.com"))
    assert data["workspace"] == {"id": str(owner.workspace_id), "name": "owner's workspace"}
    assert "metadata" not in data["run"]  # summaries only

    assert (delivery.status, delivery.attempt_count, delivery.last_http_status) == ("delivered", 1, 200)
    [attempt] = db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)).all()
    assert (attempt.number, attempt.http_status, attempt.outcome) == (1, 200, "success")


def test_succeeded_run_and_failed_run_of_another_job_post_nothing(api, db, receiver):
    endpoint_id, _ = make_endpoint(api, receiver)
    make_rule(api, [endpoint_id])

    report(api, job="nightly-report", status="succeeded", duration_ms=1_000)
    report(api, job="other-job", status="failed", message="exit code 1")
    settle(db)

    assert deliveries(db) == []
    assert receiver.requests == []
    # The same endpoint does receive a matching failure, so the silence above is the rule's doing.
    report(api, job="nightly-report", status="failed")
    receiver.wait_for(1)
    settle(db)
    assert len(receiver.requests) == 1


def test_first_attempt_runs_in_the_background_while_the_api_answers(api, db, receiver):
    endpoint_id, secret = make_endpoint(api, receiver)
    make_rule(api, [endpoint_id])
    receiver.respond(200, delay=float("inf"))  # the receiver holds the POST until released

    run = report(api, job="nightly-report", status="failed")  # returned while the POST is held

    [request] = receiver.wait_for(1)
    assert Webhook(secret).verify(request.body, request.headers)["data"]["run"]["id"] == str(run["id"])
    [delivery] = deliveries(db)
    assert delivery.status == "sending"  # claimed by the pool, outcome not yet known
    receiver.release.set()
    settle(db)
    [delivery] = deliveries(db)
    assert delivery.status == "delivered"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt)) == 1


def test_run_started_then_finished_as_failed_fires_once(api, db, receiver):
    endpoint_id, secret = make_endpoint(api, receiver)
    make_rule(api, [endpoint_id])

    run = report(api, job="nightly-report", external_id="run-7")
    settle(db)
    assert receiver.requests == []  # a running run raises nothing yet

    response = api.post(f"/runs/{run['id']}/finish", json={"status": "failed", "message": "timeout talking to db"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "failed"

    [request] = receiver.wait_for(1)
    settle(db)
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["data"]["run"]["id"] == str(run["id"])
    assert payload["data"]["run"]["status"] == "failed"
    assert payload["data"]["alert"]["message"].startswith("nightly-report failed after ")
    assert payload["data"]["alert"]["message"].endswith(": timeout talking to db")
    [delivery] = deliveries(db)
    assert delivery.status == "delivered"
    assert len(receiver.requests) == 1


def test_finishing_a_run_as_succeeded_posts_nothing(api, db, receiver):
    endpoint_id, _ = make_endpoint(api, receiver)
    make_rule(api, [endpoint_id])
    run = report(api, job="nightly-report")
    assert api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).status_code == 200
    settle(db)
    assert receiver.requests == [] and deliveries(db) == []


def test_alerts_of_one_workspace_never_reach_another_workspaces_endpoints(api, other_api, db, receiver):
    mine_id, my_secret = make_endpoint(api, receiver, "/mine")
    theirs_id, _ = make_endpoint(other_api, receiver, "/theirs")
    # Each workspace has its own matching rule; a rule cannot point at the other's endpoint.
    make_rule(api, [mine_id])
    make_rule(other_api, [theirs_id])
    refused = api.post("/rules", json={"name": "steal", "event": "run_failed", "endpoint_ids": [theirs_id]})
    assert refused.status_code == 400 and "endpoint_ids" in refused.get_json()["error"]["fields"]

    report(api, job="nightly-report", status="failed", message="mine")
    [request] = receiver.wait_for(1)
    settle(db)
    assert [received.path for received in receiver.requests] == ["/mine"]
    assert Webhook(my_secret).verify(request.body, request.headers)["data"]["alert"]["message"].endswith(": mine")

    # The other workspace's own run reaches only its own endpoint.
    report(other_api, job="nightly-report", status="failed", message="theirs")
    receiver.wait_for(2)
    settle(db)
    assert [received.path for received in receiver.requests] == ["/mine", "/theirs"]
    # And my API cannot see or finish the other workspace's run.
    their_run = db.session.scalar(sa.select(Run).where(Run.message == "theirs"))
    assert api.get(f"/runs/{their_run.id}").status_code == 404
    assert api.post(f"/runs/{their_run.id}/finish", json={"status": "failed"}).status_code == 404
