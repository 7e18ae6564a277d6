"""System events (services/alerting/system_events.py) end to end against real loopback receivers:
an endpoint disabled by a 410, a dead delivery and a stopped scheduler each reach another
endpoint once, with `data.system`; a system alert never goes to the endpoint it is about and its
own failure raises nothing more; every dead delivery and disabled endpoint logs one WARNING line
without the URL; and the overview asks for such a rule until one exists.

The engine is driven as in tests/delivery/test_attempt.py: the retry job, then waiting for the
send pool; a back-off is skipped by moving `next_attempt_at` to now.
"""
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.app import make_app
from tests.support.factories import make_delivery, make_endpoint, make_workspace, workspace_id_of
from tests.support.receiver import Receiver
from webapp.extensions import db as _db
from webapp.models import Alert, Delivery, Endpoint, Rule, SchedulerHeartbeat
from webapp.services.alerting import system_events
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

ENGINE_LOGGER = "webapp.services.delivery.outcomes"
SECRET_PATH = "/hooks/T0123/B0456/very-secret-url-token"


# --- driving the engine ---------------------------------------------------------------------------

def run_retry_job(app) -> None:
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle(timeout=20)


def reload(db, model, object_id):
    db.session.rollback()
    return db.session.get(model, object_id, populate_existing=True)


def drive(app, db, delivery_id, turns: int = 12) -> Delivery:
    """Run the retry job, skipping each back-off, until the delivery is delivered or dead."""
    for _ in range(turns):
        run_retry_job(app)
        delivery = reload(db, Delivery, delivery_id)
        if delivery.status in ("delivered", "dead"):
            return delivery
        db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
                           .values(next_attempt_at=utcnow()))
        db.session.commit()
    raise AssertionError(f"delivery {delivery_id} still {delivery.status} after {turns} turns")


def settle(app, db) -> None:
    """Let every delivery the system events raised finish (first attempts and their retries)."""
    for _ in range(12):
        assert pool.wait_idle(timeout=20)
        db.session.rollback()
        open_ids = db.session.scalars(sa.select(Delivery.id).where(Delivery.status.in_(("pending", "sending")))).all()
        if not open_ids:
            return
        db.session.execute(sa.update(Delivery).where(Delivery.id.in_(open_ids), Delivery.status == "pending")
                           .values(next_attempt_at=utcnow()))
        db.session.commit()
        run_retry_job(app)
    raise AssertionError("deliveries still open")


@pytest.fixture
def app_config():
    return {"TOCSIN_RETRY_SCALE": 1.0, "TOCSIN_STALL_CHECK_SECONDS": 0}  # requests do not check here


@pytest.fixture
def workspace(db):
    workspace = make_workspace()
    db.session.commit()
    return workspace


@pytest.fixture
def other_receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def system_rule(workspace, event, endpoints, **fields) -> Rule:
    rule = Rule(workspace_id=workspace.id, name=f"tell me: {event}", event=event, severity="critical",
                endpoints=list(endpoints), **fields)
    _db.session.add(rule)
    _db.session.commit()
    return rule


def alerts_of(db, event) -> list[Alert]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Alert).where(Alert.type == event).order_by(Alert.id)))


def warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == ENGINE_LOGGER and record.levelno == logging.WARNING]


# --- endpoint_disabled ------------------------------------------------------------------------------

@pytest.mark.postgres_too
def test_410_disables_endpoint_a_and_an_endpoint_disabled_rule_tells_b_exactly_once(app, db, workspace, receiver,
                                                                                    other_receiver, caplog):
    caplog.set_level(logging.WARNING, logger=ENGINE_LOGGER)
    endpoint_a, _ = make_endpoint(workspace, receiver.url(SECRET_PATH), name="Team A hook")
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url(), name="Ops pager")
    system_rule(workspace, "endpoint_disabled", [endpoint_a, endpoint_b])  # A too: it must not get it
    receiver.respond(410)
    delivery_id = make_delivery(endpoint_a).id
    db.session.commit()

    assert drive(app, db, delivery_id).status == "dead"
    settle(app, db)

    assert not reload(db, Endpoint, endpoint_a.id).is_active
    assert len(receiver.requests) == 1  # the run alert only: nothing about A was sent to A
    (request,) = other_receiver.wait_for(1)
    run_retry_job(app)
    assert len(other_receiver.requests) == 1
    body = request.json()
    assert request.headers["x-tocsin-event"] == "alert.fired" and body["type"] == "alert.fired"
    assert body["data"]["alert"]["type"] == "endpoint_disabled" and body["data"]["job"] is None
    system = body["data"]["system"]
    assert system["event"] == "endpoint_disabled"
    assert system["endpoint"] == {"id": str(endpoint_a.id), "name": "Team A hook"}
    assert system["delivery_id"] == str(delivery_id)
    assert system["detail"].startswith("disabled after 410 Gone") and "127.0.0.1" not in system["detail"]
    assert body["data"]["workspace"]["id"] == str(workspace.id)
    (alert,) = alerts_of(db, "endpoint_disabled")
    assert alert.workspace_id == workspace.id and alert.system_endpoint_id == endpoint_a.id

    lines = warnings(caplog)
    assert len([line for line in lines if "disabled automatically" in line]) == 1
    assert len([line for line in lines if f"delivery {delivery_id} " in line and "is dead" in line]) == 1
    for line in lines:
        assert "very-secret-url-token" not in line and "://" not in line and str(receiver.port) not in line
    assert any(f"endpoint {endpoint_a.id} 'Team A hook'" in line and "410 Gone" in line for line in lines)



def test_enabling_the_endpoint_again_resolves_its_endpoint_disabled_alert(app, db, workspace, receiver,
                                                                         other_receiver):
    from webapp.services import endpoints as endpoint_service

    endpoint_a, _ = make_endpoint(workspace, receiver.url(), name="Team A hook")
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url(), name="Ops pager")
    system_rule(workspace, "endpoint_disabled", [endpoint_b], notify_on_resolve=True)
    receiver.respond(410)
    delivery_id = make_delivery(endpoint_a).id
    db.session.commit()
    assert drive(app, db, delivery_id).status == "dead"
    settle(app, db)
    other_receiver.wait_for(1)

    assert endpoint_service.set_active(reload(db, Endpoint, endpoint_a.id), True)
    db.session.commit()
    settle(app, db)

    (alert,) = alerts_of(db, "endpoint_disabled")
    assert alert.state == "resolved" and alert.resolved_by_id is None
    fired, resolved = other_receiver.wait_for(2)
    assert resolved.json()["type"] == "alert.resolved"
    assert resolved.json()["data"]["system"]["endpoint"]["id"] == str(endpoint_a.id)


def test_endpoint_failing_for_the_disable_window_raises_endpoint_disabled(app, db, workspace, receiver,
                                                                          other_receiver):
    endpoint_a, _ = make_endpoint(workspace, receiver.url(), name="Flaky")
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url(), name="Ops pager")
    system_rule(workspace, "endpoint_disabled", [endpoint_b])
    receiver.default.status = 502
    hours = app.config["TOCSIN_DISABLE_AFTER_HOURS"]
    db.session.execute(sa.update(Endpoint).where(Endpoint.id == endpoint_a.id)
                       .values(failing_since=utcnow() - timedelta(hours=hours, minutes=1)))
    delivery_id = make_delivery(endpoint_a).id
    db.session.commit()

    run_retry_job(app)
    settle(app, db)

    assert not reload(db, Endpoint, endpoint_a.id).is_active
    (request,) = other_receiver.wait_for(1)
    system = request.json()["data"]["system"]
    assert system["event"] == "endpoint_disabled" and system["delivery_id"] == str(delivery_id)
    assert system["detail"].startswith(f"disabled after {hours:g} hours of failed deliveries")


# --- delivery_dead ----------------------------------------------------------------------------------

def test_a_dead_delivery_raises_delivery_dead_to_b_but_never_to_the_endpoint_it_is_about(app, db, workspace,
                                                                                         receiver, other_receiver,
                                                                                         caplog):
    caplog.set_level(logging.WARNING, logger=ENGINE_LOGGER)
    endpoint_a, _ = make_endpoint(workspace, receiver.url(SECRET_PATH), name="Team A hook")
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url(), name="Ops pager")
    system_rule(workspace, "delivery_dead", [endpoint_a, endpoint_b])
    receiver.default.status = 500
    delivery_id = make_delivery(endpoint_a, max_attempts=2).id
    db.session.commit()

    dead = drive(app, db, delivery_id)
    settle(app, db)

    assert (dead.status, dead.attempt_count) == ("dead", 2)
    assert len(receiver.requests) == 2  # the two attempts of the run alert; the system alert skipped A
    (request,) = other_receiver.wait_for(1)
    system = request.json()["data"]["system"]
    assert system == {"event": "delivery_dead", "endpoint": {"id": str(endpoint_a.id), "name": "Team A hook"},
                      "delivery_id": str(delivery_id), "detail": "gave up after 2 attempts; last: HTTP 500 Internal Server Error"}
    assert reload(db, Endpoint, endpoint_a.id).is_active  # a 500 kills a delivery, never the endpoint
    (line,) = [line for line in warnings(caplog) if "is dead" in line]
    assert line == (f"delivery {delivery_id} to endpoint {endpoint_a.id} is dead after 2 attempts: "
                    "gave up after 2 attempts; last: HTTP 500 Internal Server Error")


def test_a_failed_test_send_raises_no_delivery_dead(app, db, workspace, receiver, other_receiver, caplog):
    caplog.set_level(logging.WARNING, logger=ENGINE_LOGGER)
    endpoint_a, _ = make_endpoint(workspace, receiver.url())
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url())
    system_rule(workspace, "delivery_dead", [endpoint_b])
    receiver.respond(500)
    test_send = Delivery(workspace_id=workspace.id, endpoint_id=endpoint_a.id, is_test=True, event="alert.test",
                         max_attempts=1)
    db.session.add(test_send)
    db.session.commit()

    assert drive(app, db, test_send.id).status == "dead"
    settle(app, db)

    assert alerts_of(db, "delivery_dead") == [] and other_receiver.requests == []
    assert [line for line in warnings(caplog) if "is dead" in line] == []


@pytest.mark.postgres_too
def test_no_loop_when_b_itself_dies(app, db, workspace, receiver, other_receiver):
    """B's own system delivery dying (500s, then a 410 that disables B) raises nothing more."""
    endpoint_a, _ = make_endpoint(workspace, receiver.url(), name="A")
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url(), name="B")
    system_rule(workspace, "delivery_dead", [endpoint_b], max_attempts=2, cooldown_seconds=0)
    system_rule(workspace, "endpoint_disabled", [endpoint_b])
    receiver.default.status = 500
    other_receiver.respond(500).respond(410)
    first = make_delivery(endpoint_a, max_attempts=1).id
    db.session.commit()

    assert drive(app, db, first).status == "dead"
    settle(app, db)

    (alert,) = alerts_of(db, "delivery_dead")
    assert alert.system_endpoint_id == endpoint_a.id
    system_deliveries = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id)).all()
    assert [(d.endpoint_id, d.status, d.attempt_count) for d in system_deliveries] == [(endpoint_b.id, "dead", 2)]
    assert len(other_receiver.requests) == 2
    assert not reload(db, Endpoint, endpoint_b.id).is_active  # the 410 still disables B…
    assert alerts_of(db, "endpoint_disabled") == []  # …but a system alert's failure raises nothing more
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 2  # the run alert and this one


def test_delivery_dead_about_b_goes_to_c_and_never_to_b(app, db, workspace, receiver, other_receiver):
    endpoint_b, _ = make_endpoint(workspace, receiver.url(), name="B")
    endpoint_c, _ = make_endpoint(workspace, other_receiver.url(), name="C")
    system_rule(workspace, "delivery_dead", [endpoint_b, endpoint_c])
    receiver.default.status = 500
    delivery_id = make_delivery(endpoint_b, max_attempts=1).id
    db.session.commit()

    drive(app, db, delivery_id)
    settle(app, db)

    assert len(receiver.requests) == 1  # B got only the run alert's one attempt
    (request,) = other_receiver.wait_for(1)
    assert request.json()["data"]["system"]["endpoint"] == {"id": str(endpoint_b.id), "name": "B"}


def test_a_burst_of_dead_deliveries_within_the_cooldown_is_one_alert_counted_as_repeats(app, db, workspace,
                                                                                        receiver, other_receiver):
    endpoint_a, _ = make_endpoint(workspace, receiver.url())
    endpoint_b, _ = make_endpoint(workspace, other_receiver.url())
    system_rule(workspace, "delivery_dead", [endpoint_b], cooldown_seconds=300)
    receiver.default.status = 500
    ids = [make_delivery(endpoint_a, max_attempts=1).id for _ in range(3)]
    db.session.commit()

    run_retry_job(app)
    settle(app, db)

    assert {reload(db, Delivery, delivery_id).status for delivery_id in ids} == {"dead"}
    (alert,) = alerts_of(db, "delivery_dead")
    assert alert.repeat_count == 3 and len(other_receiver.requests) == 1


def test_system_events_stay_in_the_workspace_of_the_endpoint(app, db, receiver, other_receiver):
    mine, theirs = make_workspace("mine"), make_workspace("theirs")
    endpoint_a, _ = make_endpoint(mine, receiver.url())
    their_endpoint, _ = make_endpoint(theirs, other_receiver.url())
    db.session.commit()
    system_rule(theirs, "delivery_dead", [their_endpoint])
    receiver.default.status = 500
    delivery_id = make_delivery(endpoint_a, max_attempts=1).id
    db.session.commit()

    drive(app, db, delivery_id)
    settle(app, db)

    assert alerts_of(db, "delivery_dead") == [] and other_receiver.requests == []


# --- scheduler_stalled ------------------------------------------------------------------------------

def beat_at(db, moment) -> None:
    db.session.add(SchedulerHeartbeat(host="worker-1", pid=4242, started_at=moment, last_beat_at=moment))
    db.session.commit()


@pytest.mark.postgres_too
def test_a_stopped_scheduler_raises_scheduler_stalled_once_and_resolves_when_it_returns(app, db, workspace,
                                                                                        receiver, tmp_path,
                                                                                        database_uri):
    endpoint_b, _ = make_endpoint(workspace, receiver.url(), name="Ops pager")
    db.session.commit()
    system_rule(workspace, "scheduler_stalled", [endpoint_b])
    last_beat = utcnow().replace(microsecond=0)
    beat_at(db, last_beat)

    assert delivery_jobs.check_heartbeat(now=last_beat + timedelta(seconds=59)) is None  # 59 s: not yet
    assert delivery_jobs.check_heartbeat(now=last_beat + timedelta(seconds=61)) == "raised"
    assert delivery_jobs.check_heartbeat(now=last_beat + timedelta(seconds=75)) is None  # checked twice
    other_app = make_app(tmp_path / "other", database_uri, TOCSIN_STALL_CHECK_SECONDS=0)
    with other_app.app_context():  # a second process noticing the same stall
        assert delivery_jobs.check_heartbeat(now=last_beat + timedelta(seconds=80)) is None
        # Even one that read before the first wrote inserts nothing (the unique firing stall per rule).
        assert system_events.scheduler_stalled("no heartbeat") == 0
        _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()
    assert pool.wait_idle(timeout=20)

    (alert,) = alerts_of(db, "scheduler_stalled")
    assert alert.state == "firing" and alert.workspace_id == workspace.id
    (fired,) = receiver.wait_for(1)
    system = fired.json()["data"]["system"]
    assert system["event"] == "scheduler_stalled" and system["endpoint"] is None and system["delivery_id"] is None
    assert system["detail"] == f"no heartbeat for 61 s (last at {last_beat.isoformat().replace('+00:00', 'Z')})"

    delivery_jobs.beat(None)  # a scheduler runs again
    assert delivery_jobs.check_heartbeat() == "resolved"
    assert delivery_jobs.check_heartbeat() is None
    assert pool.wait_idle(timeout=20)
    assert reload(db, Alert, alert.id).state == "resolved"
    resolved = receiver.wait_for(2)[1]
    assert resolved.headers["x-tocsin-event"] == "alert.resolved"
    assert resolved.json()["data"]["alert"]["state"] == "resolved"
    assert len(receiver.requests) == 2


@pytest.mark.postgres_too
def test_a_web_request_notices_the_stall_and_the_heartbeat_job_resolves_it(app, db, workspace, receiver, client):
    app.config["TOCSIN_STALL_CHECK_SECONDS"] = 10
    endpoint_b, _ = make_endpoint(workspace, receiver.url())
    db.session.commit()
    system_rule(workspace, "scheduler_stalled", [endpoint_b])
    beat_at(db, utcnow() - timedelta(minutes=5))

    client.get("/healthz")
    client.get("/healthz")  # within 10 s: not checked again
    assert pool.wait_idle(timeout=20)
    (alert,) = alerts_of(db, "scheduler_stalled")
    assert receiver.wait_for(1)[0].json()["data"]["alert"]["type"] == "scheduler_stalled"

    delivery_jobs.record_heartbeat(app)  # the scheduler's own tick: it beats, then checks
    assert pool.wait_idle(timeout=20)
    assert reload(db, Alert, alert.id).state == "resolved"
    assert len(receiver.wait_for(2)) == 2


@pytest.mark.postgres_too
def test_scheduler_stalled_is_raised_in_every_workspace_with_such_a_rule(app, db, receiver, other_receiver):
    first, second, bystander = make_workspace("one"), make_workspace("two"), make_workspace("three")
    endpoint_one, _ = make_endpoint(first, receiver.url())
    endpoint_two, _ = make_endpoint(second, other_receiver.url())
    db.session.commit()
    system_rule(first, "scheduler_stalled", [endpoint_one])
    system_rule(second, "scheduler_stalled", [endpoint_two])

    assert delivery_jobs.check_heartbeat() == "raised"  # no scheduler ever ran
    assert pool.wait_idle(timeout=20)

    assert sorted(alert.workspace_id for alert in alerts_of(db, "scheduler_stalled")) == [first.id, second.id]
    assert bystander.id not in {alert.workspace_id for alert in alerts_of(db, "scheduler_stalled")}
    assert receiver.wait_for(1)[0].json()["data"]["system"]["detail"] == "no scheduler has ever sent a heartbeat"
    assert len(other_receiver.wait_for(1)) == 1


def test_without_a_stall_rule_the_check_writes_nothing(app, db, workspace):
    assert delivery_jobs.check_heartbeat() is None
    assert alerts_of(db, "scheduler_stalled") == []


# --- rules, form and overview ------------------------------------------------------------------------

def test_overview_asks_for_a_system_rule_until_one_exists(api, client):
    page = client.get("/overview").get_data(as_text=True)
    assert "Tell me when alerting breaks" in page
    assert 'href="/settings/alerts/rules/new?event=endpoint_disabled"' in page

    form = client.get("/settings/alerts/rules/new?event=endpoint_disabled").get_data(as_text=True)
    assert '<option selected value="endpoint_disabled">' in form
    assert 'data-not-for-events="endpoint_disabled delivery_dead scheduler_stalled"' in form
    unknown = client.get("/settings/alerts/rules/new?event=nonsense").get_data(as_text=True)
    assert '<option selected value="endpoint_disabled">' not in unknown  # an unknown value is ignored

    endpoint_id = api.post("/endpoints", json={"name": "Ops", "url": "http://127.0.0.1:9/hook"}).json["id"]
    response = api.post("/rules", json={"name": "alerting broke", "event": "delivery_dead", "job_filter": "billing-*",
                                        "endpoint_ids": [endpoint_id]})
    assert response.status_code == 201, response.json
    assert response.json["event"] == "delivery_dead" and response.json["job_filter"] is None  # ignored
    assert "Tell me when alerting breaks" not in client.get("/overview").get_data(as_text=True)


def test_rule_form_offers_the_system_events_and_drops_their_job_filter(api, client):
    endpoint_id = api.post("/endpoints", json={"name": "Ops", "url": "http://127.0.0.1:9/hook"}).json["id"]
    page = client.get("/settings/alerts/rules/new").get_data(as_text=True)
    for event in ("endpoint_disabled", "delivery_dead", "scheduler_stalled"):
        assert f'value="{event}"' in page
    assert '<optgroup label="Alerting itself">' in page

    response = client.post("/settings/alerts/rules/new", data={
        "name": "Scheduler down", "event": "scheduler_stalled", "job_filter": "nightly-*", "severity": "critical",
        "endpoint_ids": [str(endpoint_id)], "cooldown_seconds": "300", "is_active": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    rule = _db.session.scalar(sa.select(Rule).where(Rule.workspace_id == workspace_id_of()))
    assert (rule.event, rule.job_filter) == ("scheduler_stalled", None)
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "scheduler stalled" in detail.lower()


def test_rules_api_refuses_an_unknown_event_with_the_system_events_listed(api):
    response = api.post("/rules", json={"name": "x", "event": "endpoint_gone", "endpoint_ids": []})
    assert response.status_code == 422 or response.status_code == 400
    assert "endpoint_disabled" in str(response.json) and "scheduler_stalled" in str(response.json)


def test_a_system_alert_shows_on_the_alert_pages_and_in_the_api(api, client):
    endpoint_id = api.post("/endpoints", json={"name": "Ops", "url": "http://127.0.0.1:9/hook"}).json["id"]
    assert api.post("/rules", json={"name": "Scheduler down", "event": "scheduler_stalled",
                                    "endpoint_ids": [endpoint_id]}).status_code == 201
    assert delivery_jobs.check_heartbeat() == "raised"  # no scheduler ever ran in this test
    assert pool.wait_idle(timeout=20)
    (alert,) = alerts_of(_db, "scheduler_stalled")

    listed = client.get("/alerts").get_data(as_text=True)
    assert "The scheduler has stopped" in listed
    detail = client.get(f"/alerts/{alert.id}")
    assert detail.status_code == 200 and "no scheduler has ever sent a heartbeat" in detail.get_data(as_text=True)
    body = api.get(f"/alerts/{alert.id}").json
    assert body["type"] == "scheduler_stalled" and body["state"] == "firing"
    assert [item["id"] for item in api.get("/alerts?alert_type=scheduler_stalled").json["items"]] == [alert.id]
