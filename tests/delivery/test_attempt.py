"""The delivery engine end to end against a real loopback receiver: every attempt recorded and
signed with the same webhook-id, back-off within its bounds, dead letters, endpoints disabled
by 404/410 or a long failure streak, and history pruning (services/delivery: attempt, backoff, outcomes, jobs).

The engine is driven by calling the retry job and waiting for the send pool; instead of
sleeping through a back-off the test moves `next_attempt_at` to now.
"""
import socket
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.support.accounts import AuthActions
from tests.support.factories import make_alert, make_delivery, make_endpoint, make_workspace
from webapp.models import Delivery, DeliveryAttempt, Endpoint, User, Workspace
from webapp.services import endpoints
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

FINISHED = ("delivered", "dead")


# --- driving the engine ------------------------------------------------------------------------


def reload(db, model, object_id):
    db.session.rollback()  # end any read transaction: see what the send pool committed
    return db.session.get(model, object_id, populate_existing=True)


def run_retry_job(app) -> None:
    """One turn of the scheduler's retry job, then wait for the attempts it started."""
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle(timeout=20)


def make_due(db, delivery_id) -> None:
    """Skip the back-off: the retry is due now."""
    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
                       .values(next_attempt_at=utcnow()))
    db.session.commit()


def drive(app, db, delivery_id, turns: int = 12) -> Delivery:
    """Run the retry job, skipping each back-off, until the delivery is delivered or dead."""
    for _ in range(turns):
        run_retry_job(app)
        delivery = reload(db, Delivery, delivery_id)
        if delivery.status in FINISHED:
            return delivery
        make_due(db, delivery_id)
    raise AssertionError(f"delivery {delivery_id} still {delivery.status} after {turns} turns")


def one_attempt(app, db, delivery_id):
    """One attempt of a due delivery; returns (delivery, earliest and latest moment of its outcome)."""
    before = utcnow()
    run_retry_job(app)
    after = utcnow()
    return reload(db, Delivery, delivery_id), before, after


def attempts_of(db, delivery_id) -> list[DeliveryAttempt]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                   .order_by(DeliveryAttempt.number)))


def refused_url() -> str:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def seconds(moment, since) -> float:
    return (moment - since).total_seconds()


@pytest.fixture
def app_config():
    """Real back-off delays (scale 1): a retry is due only when a test moves it to now, so a
    slow machine never sees an extra attempt the test did not ask for."""
    return {"TOCSIN_RETRY_SCALE": 1.0}


@pytest.fixture
def workspace(db):
    workspace = make_workspace()
    db.session.commit()
    return workspace


@pytest.fixture
def owner(db, client):
    """A signed-up user (logged in on `client`) and their workspace, for page checks."""
    AuthActions(client).signup()
    return db.session.get(Workspace, db.session.scalar(sa.select(User)).workspace_id)


def pending_delivery(db, endpoint, **fields) -> int:
    delivery_id = make_delivery(endpoint, **fields).id
    db.session.commit()
    return delivery_id


# --- attempts, ids and signatures --------------------------------------------------------------


def test_500_then_timeout_then_200_is_delivered_on_the_third_attempt_with_one_webhook_id(app, db, workspace,
                                                                                          receiver):
    endpoint, secret = make_endpoint(workspace, receiver.url(), timeout_seconds=1)
    receiver.respond(500, body="upstream exploded").respond(200, delay=2).respond(200, body="thanks")
    delivery_id = pending_delivery(db, endpoint)

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.attempt_count, delivery.last_http_status) == ("delivered", 3, 200)
    assert delivery.finished_at is not None and delivery.next_attempt_at is None
    attempts = attempts_of(db, delivery_id)
    assert [(a.number, a.outcome, a.http_status) for a in attempts] == [
        (1, "server_error", 500), (2, "timeout", None), (3, "success", 200)]
    assert attempts[0].response_excerpt == "upstream exploded" and attempts[1].error
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert {request.headers["webhook-id"] for request in requests} == {delivery.message_id}
    verifier = Webhook(secret)
    timestamps = []
    for request in requests:
        assert verifier.verify(request.body, request.headers)["type"] == "alert.fired"
        timestamps.append(int(request.headers["webhook-timestamp"]))
        assert abs(timestamps[-1] - request.received_at) <= 2  # stamped for this attempt, not reused
    assert timestamps == sorted(timestamps) and timestamps[2] > timestamps[0]  # the timeout took a second
    assert len({request.headers["webhook-signature"] for request in requests}) >= 2



@pytest.mark.postgres_too
def test_an_alert_names_its_rule_job_run_and_workspace_and_still_goes_out_once_its_rule_is_deleted(
        app, db, workspace, receiver):
    endpoint, secret = make_endpoint(workspace, receiver.url())
    alert = make_alert(endpoint)
    rule, run_id = alert.rule, alert.run_id
    first = pending_delivery(db, endpoint, alert=alert)
    run_retry_job(app)

    data = Webhook(secret).verify(receiver.wait_for(1)[0].body, receiver.requests[0].headers)["data"]
    assert data["alert"]["id"] == str(alert.id) and data["alert"]["repeat_count"] == 1
    assert data["rule"] == {"id": str(rule.id), "name": "billing-nightly fails"}
    assert data["job"] == {"slug": "billing-nightly", "name": "billing-nightly"}
    assert (data["run"]["id"], data["run"]["status"], data["run"]["duration_ms"]) == (str(run_id), "failed", 42000)
    assert data["workspace"] == {"id": str(workspace.id), "name": "Engine tests"}

    db.session.delete(rule)
    db.session.commit()
    second = pending_delivery(db, endpoint, alert=alert)
    run_retry_job(app)

    data = Webhook(secret).verify(receiver.wait_for(2)[1].body, receiver.requests[1].headers)["data"]
    assert data["rule"] is None and data["job"]["slug"] == "billing-nightly"
    assert [reload(db, Delivery, delivery_id).status for delivery_id in (first, second)] == ["delivered"] * 2

def test_attempts_used_up_make_the_delivery_dead(app, db, workspace, receiver):
    endpoint, _ = make_endpoint(workspace, receiver.url())
    receiver.default.status = 503
    delivery_id = pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=3))

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.attempt_count) == ("dead", 3)
    assert delivery.last_error.startswith("gave up after 3 attempts")
    assert len(receiver.requests) == 3 and len(attempts_of(db, delivery_id)) == 3
    run_retry_job(app)  # a dead letter is never picked up again
    assert len(receiver.requests) == 3


# --- gone endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("status, phrase", [(410, "Gone"), (404, "Not Found")])
def test_gone_answer_disables_the_endpoint_with_its_reason_and_kills_the_delivery(app, db, client, owner,
                                                                                   receiver, status, phrase):
    endpoint, _ = make_endpoint(owner, receiver.url("/hooks/ops"))
    receiver.respond(status)
    delivery_id = pending_delivery(db, endpoint)

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.attempt_count) == ("dead", 1)
    endpoint = reload(db, Endpoint, endpoint.id)
    expected = f"disabled after {status} {phrase} from http://127.0.0.1:{receiver.port}/hooks/••••"
    assert not endpoint.is_active and endpoint.disabled_reason.startswith(expected)
    assert endpoint.disabled_reason.endswith(" UTC") and str(utcnow().year) in endpoint.disabled_reason
    assert delivery.last_error == f"endpoint {endpoint.disabled_reason}"
    page = client.get(f"/settings/alerts/endpoints/{endpoint.id}").get_data(as_text=True)
    assert expected in page

    # A later alert is not sent while disabled...
    held_back = pending_delivery(db, endpoint)
    assert drive(app, db, held_back).status == "dead" and len(receiver.requests) == 1
    # ...and after the user re-enables the endpoint, alerts flow again.
    response = client.post(f"/settings/alerts/endpoints/{endpoint.id}/enable", follow_redirects=True)
    assert response.status_code == 200 and expected not in response.get_data(as_text=True)
    endpoint = reload(db, Endpoint, endpoint.id)
    assert endpoint.is_active and endpoint.disabled_reason is None
    assert drive(app, db, pending_delivery(db, endpoint)).status == "delivered"
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("change, reason", [
    ({"deleted_at": utcnow(), "is_active": False}, "endpoint deleted before delivery"),
    ({"is_active": False, "disabled_reason": "Disabled by a user."}, "endpoint disabled: Disabled by a user."),
])
def test_delivery_to_an_endpoint_gone_before_its_turn_is_dead_and_not_sent(app, db, workspace, receiver,
                                                                           change, reason):
    endpoint, _ = make_endpoint(workspace, receiver.url())
    delivery_id = pending_delivery(db, endpoint)
    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint.id).values(**change))
    db.session.commit()

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.last_error, delivery.attempt_count) == ("dead", reason, 0)
    assert attempts_of(db, delivery_id) == []
    assert receiver.requests == []


# --- back-off --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after, expected_floor", [("300", 300), ("7200", 3600)])
def test_429_waits_for_retry_after_scaled_and_capped_at_an_hour(app, db, workspace, receiver, retry_after,
                                                                 expected_floor):
    scale = app.config["TOCSIN_RETRY_SCALE"] = 0.01
    endpoint, _ = make_endpoint(workspace, receiver.url())
    receiver.respond(429, headers={"Retry-After": retry_after})
    delivery_id = pending_delivery(db, endpoint)

    delivery, before, after = one_attempt(app, db, delivery_id)

    assert (delivery.status, delivery.last_http_status) == ("pending", 429)
    assert seconds(delivery.next_attempt_at, before) >= expected_floor * scale
    assert seconds(delivery.next_attempt_at, after) <= min(expected_floor * 1.2, 3600) * scale
    assert drive(app, db, delivery_id).status == "delivered"


@pytest.mark.parametrize("status", [400, 422, 500, 503, "refused"])
def test_other_failures_retry_on_the_back_off_schedule(app, db, workspace, receiver, status):
    url = refused_url() if status == "refused" else receiver.url()
    endpoint, _ = make_endpoint(workspace, url)
    if status != "refused":
        receiver.default.status = status
    delivery_id = pending_delivery(db, endpoint)

    for attempt_number, scheduled in ((1, 10), (2, 30), (3, 120)):
        delivery, before, after = one_attempt(app, db, delivery_id)
        assert (delivery.status, delivery.attempt_count) == ("pending", attempt_number)
        assert seconds(delivery.next_attempt_at, before) >= 0.8 * scheduled
        assert seconds(delivery.next_attempt_at, after) <= 1.2 * scheduled
        make_due(db, delivery_id)
    outcomes = {attempt.outcome for attempt in attempts_of(db, delivery_id)}
    assert outcomes == ({"connection"} if status == "refused" else
                        {"client_error" if status < 500 else "server_error"})


def test_a_timeout_waits_at_least_a_minute_scaled(app, db, workspace, receiver):
    scale = app.config["TOCSIN_RETRY_SCALE"] = 0.01
    endpoint, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=1)
    receiver.respond(200, delay=2)
    delivery_id = pending_delivery(db, endpoint)

    delivery, before, after = one_attempt(app, db, delivery_id)

    assert delivery.status == "pending" and attempts_of(db, delivery_id)[0].outcome == "timeout"
    assert seconds(delivery.next_attempt_at, before) >= 60 * scale
    assert seconds(delivery.next_attempt_at, after) <= 72 * scale


# --- endpoint health -------------------------------------------------------------------------


def test_endpoint_is_failing_after_its_last_three_attempts_failed_and_healthy_after_a_success(
        app, db, client, owner, receiver):
    endpoint, _ = make_endpoint(owner, receiver.url())
    for _ in range(2):
        receiver.respond(500)
        drive(app, db, pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=1)))
        # A new endpoint that never succeeded is failing at once (it was "healthy" before: issue 19).
        assert endpoints.health(reload(db, Endpoint, endpoint.id)) == "failing"
    for status in (200, 500, 500):
        receiver.respond(status)
        drive(app, db, pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=1)))
    endpoint = reload(db, Endpoint, endpoint.id)
    assert endpoints.health(endpoint) == "healthy"  # the last three include the success

    receiver.respond(500)
    drive(app, db, pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=1)))
    assert endpoints.health(endpoint) == "failing"
    assert 'class="badge failing" data-health="failing">failing<' in client.get(f"/settings/alerts/endpoints/{endpoint.id}").get_data(
        as_text=True)
    assert reload(db, Endpoint, endpoint.id).is_active  # failing is a warning, not a disable

    drive(app, db, pending_delivery(db, endpoint))  # the receiver answers 200 again
    endpoint = reload(db, Endpoint, endpoint.id)
    assert endpoints.health(endpoint) == "healthy" and endpoint.failing_since is None


def test_endpoint_failing_only_for_longer_than_disable_after_hours_is_disabled(app, db, client, owner, receiver):
    hours = app.config["TOCSIN_DISABLE_AFTER_HOURS"]
    endpoint, _ = make_endpoint(owner, receiver.url())
    receiver.default.status = 502
    delivery_id = pending_delivery(db, endpoint)
    delivery, _, _ = one_attempt(app, db, delivery_id)
    started_failing = reload(db, Endpoint, endpoint.id).failing_since
    assert delivery.status == "pending" and started_failing is not None
    make_due(db, delivery_id)
    one_attempt(app, db, delivery_id)
    assert reload(db, Endpoint, endpoint.id).is_active  # a short streak keeps it enabled

    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint.id)
                       .values(failing_since=utcnow() - timedelta(hours=hours, minutes=1)))
    db.session.commit()
    make_due(db, delivery_id)
    one_attempt(app, db, delivery_id)

    endpoint = reload(db, Endpoint, endpoint.id)
    assert not endpoint.is_active
    assert endpoint.disabled_reason.startswith(f"disabled after {hours:g} hours of failed deliveries")
    assert endpoint.disabled_reason in client.get(f"/settings/alerts/endpoints/{endpoint.id}").get_data(
        as_text=True)
    sent = len(receiver.requests)
    delivery = drive(app, db, delivery_id)  # its next turn finds the endpoint disabled
    assert delivery.status == "dead" and delivery.last_error.startswith("endpoint disabled: disabled after")
    assert len(receiver.requests) == sent


def test_a_receiver_back_after_an_outage_gets_the_waiting_retries_at_once(app, db, owner, receiver):
    """After a 5-minute outage the back-off left its first alerts waiting 7.7 minutes more: the
    success that ends a streak of failures of 10 s or more makes the endpoint's waiting retries
    due now, except a delay the receiver asked for (429 Retry-After). A shorter streak (a flaky
    answer among successes) keeps the back-off."""
    endpoint, _ = make_endpoint(owner, receiver.url())
    receiver.respond(500)
    waiting = pending_delivery(db, endpoint)
    run_retry_job(app)
    receiver.respond(429, headers={"Retry-After": "600"})
    throttled = pending_delivery(db, endpoint)
    run_retry_job(app)
    assert all(reload(db, Delivery, delivery_id).next_attempt_at > utcnow() + timedelta(seconds=5)
               for delivery_id in (waiting, throttled))

    assert one_attempt(app, db, pending_delivery(db, endpoint))[0].status == "delivered"  # a short streak
    assert reload(db, Delivery, waiting).next_attempt_at > utcnow() + timedelta(seconds=5)

    receiver.respond(500)
    one_attempt(app, db, pending_delivery(db, endpoint, max_attempts=1))
    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint.id)
                       .values(failing_since=utcnow() - timedelta(seconds=11)))
    db.session.commit()
    assert one_attempt(app, db, pending_delivery(db, endpoint))[0].status == "delivered"  # back after an outage
    assert reload(db, Delivery, waiting).next_attempt_at <= utcnow()
    run_retry_job(app)
    assert reload(db, Delivery, waiting).status == "delivered"
    throttled_row = reload(db, Delivery, throttled)
    assert throttled_row.status == "pending" and throttled_row.next_attempt_at > utcnow() + timedelta(seconds=500)


# --- overview and pruning --------------------------------------------------------------------


def test_overview_counts_pending_retrying_and_dead_deliveries_with_links_to_the_history(app, db, client, owner,
                                                                                       receiver):
    endpoint, _ = make_endpoint(owner, receiver.url())
    receiver.default.status = 500
    waiting = pending_delivery(db, endpoint, next_attempt_at=utcnow() + timedelta(hours=1))
    dead = pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=1))
    drive(app, db, dead)
    retrying = pending_delivery(db, endpoint)
    one_attempt(app, db, retrying)

    html = client.get("/overview").get_data(as_text=True)

    for status, label in (("pending", "queued"), ("failed-retrying", "retrying"), ("dead", "failed")):
        assert f'href="/settings/alerts/deliveries?status={status}"><span class="num">1</span> {label}' in html
    for status, delivery_id in (("pending", waiting), ("failed-retrying", retrying), ("dead", dead)):
        listed = client.get(f"/settings/alerts/deliveries?status={status}").get_data(as_text=True)
        assert f'data-delivery-id="{delivery_id}"' in listed
        assert listed.count("data-delivery-id=") == 1


def test_prune_history_deletes_old_attempts_and_finished_deliveries_but_keeps_pending_ones(app, db, workspace,
                                                                                          receiver):
    endpoint, _ = make_endpoint(workspace, receiver.url())
    receiver.default.status = 500
    long_ago = utcnow() - timedelta(days=app.config["TOCSIN_HISTORY_DAYS"] + 1)
    ids = {name: pending_delivery(db, endpoint, alert=make_alert(endpoint, max_attempts=max_attempts))
           for name, max_attempts in (("old_dead", 1), ("recent_dead", 1), ("old_pending", 8))}
    for delivery_id in ids.values():
        one_attempt(app, db, delivery_id)
    old = [ids["old_dead"], ids["old_pending"]]
    db.session.execute(sa.update(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(old))
                       .values(started_at=long_ago))
    db.session.execute(sa.update(Delivery).where(Delivery.id.in_(old))
                       .values(created_at=long_ago, finished_at=sa.case((Delivery.status == "dead", long_ago))))
    db.session.commit()

    removed = delivery_jobs.prune_history(app)

    db.session.rollback()
    remaining = set(db.session.scalars(sa.select(Delivery.id)))
    assert remaining == {ids["old_pending"], ids["recent_dead"]}
    kept_attempts = set(db.session.scalars(sa.select(DeliveryAttempt.delivery_id)))
    assert kept_attempts == {ids["recent_dead"]}
    assert removed == 3  # two old attempts and one finished delivery
    assert reload(db, Delivery, ids["old_pending"]).status == "pending"


@pytest.mark.postgres_too
def test_sending_never_rolls_back_a_postgresql_transaction(app, db, workspace, receiver, monkeypatch):
    """psycopg forgets all of a connection's prepared statements at each ROLLBACK, so the claim,
    load and outcome of an attempt must end their transactions otherwise; rolling back after
    each read had PostgreSQL plan every statement afresh, most of its work per delivery."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no prepared statements to lose")
    import psycopg

    endpoint, _ = make_endpoint(workspace, receiver.url())
    delivery_ids = [pending_delivery(db, endpoint) for _ in range(6)]
    rollbacks = []
    real_rollback = psycopg.Connection.rollback

    def noted_rollback(connection):
        if connection.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            rollbacks.append(threading.current_thread().name)
        return real_rollback(connection)

    monkeypatch.setattr(psycopg.Connection, "rollback", noted_rollback)
    run_retry_job(app)
    monkeypatch.undo()

    assert [reload(db, Delivery, delivery_id).status for delivery_id in delivery_ids] == ["delivered"] * 6
    assert rollbacks == []
