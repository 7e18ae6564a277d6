"""/metrics: Prometheus text behind a bearer token, hidden when no token is configured; the
counters move where the work happens (attempts, final statuses, sweeps, ingested runs)."""
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import make_delivery, make_endpoint, make_workspace
from webapp.models import Delivery, Endpoint, Workspace
from webapp.services import endpoints, metrics
from webapp.services.alerting import sweeps
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


@pytest.fixture
def app_config():
    return {"TOCSIN_METRICS_TOKEN": "scrape-me"}


def test_metrics_need_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_are_404_when_no_token_is_configured(tmp_path):
    from tests.support.app import make_app

    assert make_app(tmp_path, TOCSIN_METRICS_TOKEN="").test_client().get("/metrics").status_code == 404


def test_metrics_report_queue_depth_and_recorded_attempts(client, db):
    workspace = Workspace(name="w")
    db.session.add(workspace)
    db.session.flush()
    endpoint = Endpoint(workspace_id=workspace.id, name="e", url="http://127.0.0.1:9/", secret_encrypted="x",
                        headers_encrypted={})
    db.session.add(endpoint)
    db.session.flush()
    db.session.add_all([Delivery(workspace_id=workspace.id, endpoint_id=endpoint.id, next_attempt_at=utcnow()),
                        Delivery(workspace_id=workspace.id, endpoint_id=endpoint.id, attempt_count=2,
                                 next_attempt_at=utcnow())])
    db.session.commit()
    metrics.record_attempt("server_error", 120, first_attempt_delay_seconds=0.02)
    metrics.record_run_ingested("finish")

    body = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).get_data(as_text=True)

    assert 'tocsin_delivery_queue_depth{state="pending"} 1.0' in body
    assert 'tocsin_delivery_queue_depth{state="retrying"} 1.0' in body
    assert 'tocsin_delivery_attempts_total{outcome="server_error"}' in body
    assert "tocsin_alert_to_first_attempt_seconds_bucket" in body
    assert 'tocsin_runs_ingested_total{kind="finish"}' in body
    assert "tocsin_oldest_due_delivery_age_seconds" in body


# --- counters moved by real work ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def drain_send_pool():
    """No attempt keeps running into the next test's database."""
    yield
    assert pool.wait_idle(10)


def scrape(client) -> dict:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def send(app, db, delivery_id: int) -> str:
    """The first attempt, as after any commit that creates a delivery: through the send pool."""
    pool.send_after_commit(app, [delivery_id])
    assert pool.wait_idle(10)
    db.session.rollback()
    return db.session.get(Delivery, delivery_id, populate_existing=True).status


def test_delivered_and_dead_deliveries_move_attempt_final_status_and_latency_metrics(app, db, client, receiver):
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2)
    delivered = make_delivery(endpoint).id
    dead = make_delivery(endpoint, max_attempts=1).id
    db.session.commit()
    before = scrape(client)

    assert send(app, db, delivered) == "delivered"
    receiver.respond(500)
    assert send(app, db, dead) == "dead"
    after = scrape(client)

    assert len(receiver.requests) == 2
    assert moved(before, after, "tocsin_delivery_attempts_total", outcome="success") == 1
    assert moved(before, after, "tocsin_delivery_attempts_total", outcome="server_error") == 1
    assert moved(before, after, "tocsin_deliveries_finished_total", status="delivered") == 1
    assert moved(before, after, "tocsin_deliveries_finished_total", status="dead") == 1
    assert moved(before, after, "tocsin_delivery_attempt_seconds_count") == 2
    assert moved(before, after, "tocsin_alert_to_first_attempt_seconds_count") == 2
    assert moved(before, after, "tocsin_alert_to_first_attempt_seconds_bucket", le="+Inf") == 2


def test_a_retry_counts_its_attempt_but_not_a_second_first_attempt(app, db, client, receiver):
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2)
    delivery_id = make_delivery(endpoint, max_attempts=3).id
    db.session.commit()
    receiver.respond(503)
    assert send(app, db, delivery_id) == "pending"
    before = scrape(client)
    assert before[("tocsin_delivery_queue_depth", (("state", "retrying"),))] == 1
    assert before[("tocsin_delivery_queue_depth", (("state", "pending"),))] == 0

    db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=utcnow()))
    db.session.commit()
    delivery_jobs.retry_due_deliveries(app)
    assert pool.wait_idle(10)
    after = scrape(client)

    assert moved(before, after, "tocsin_delivery_attempts_total", outcome="success") == 1
    assert moved(before, after, "tocsin_alert_to_first_attempt_seconds_count") == 0
    assert moved(before, after, "tocsin_deliveries_finished_total", status="delivered") == 1
    assert after[("tocsin_delivery_queue_depth", (("state", "retrying"),))] == 0


def test_a_test_send_counts_in_metrics_and_endpoint_health_like_a_real_attempt(app, db, client, receiver):
    """*Send test alert* takes the engine's own path: its attempt moves the same attempt counters as a
    real delivery's, and it starts and ends the endpoint's failure streak like one."""
    workspace = make_workspace()
    real, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2, name="real")
    tested, _ = make_endpoint(workspace, receiver.url(), timeout_seconds=2, name="tested")
    real_delivery = make_delivery(real, max_attempts=1).id
    db.session.commit()
    receiver.respond(500).respond(500)  # the real attempt's answer, then the test send's

    before = scrape(client)
    assert send(app, db, real_delivery) == "dead"
    after_real = scrape(client)
    _, result = endpoints.send_test(db.session.get(Endpoint, tested.id))
    after_test = scrape(client)

    assert (result.outcome, result.status) == ("server_error", 500)
    for name, labels in (("tocsin_delivery_attempts_total", {"outcome": "server_error"}),
                         ("tocsin_delivery_attempt_seconds_count", {})):
        assert moved(before, after_real, name, **labels) == moved(after_real, after_test, name, **labels) == 1, name
    # A failed test send is never a dead delivery, in the metrics as on the pages.
    assert moved(before, after_real, "tocsin_deliveries_finished_total", status="dead") == 1
    assert moved(after_real, after_test, "tocsin_deliveries_finished_total", status="dead") == 0
    db.session.expire_all()
    assert db.session.get(Endpoint, real.id).failing_since is not None
    assert db.session.get(Endpoint, tested.id).failing_since is not None  # a failure streak, as for the real one

    _, result = endpoints.send_test(db.session.get(Endpoint, tested.id))  # the receiver's default: 200
    db.session.expire_all()
    assert result.outcome == "success"
    assert db.session.get(Endpoint, tested.id).failing_since is None  # a success ends it
    assert moved(after_test, scrape(client), "tocsin_delivery_attempts_total", outcome="success") == 1


def test_a_deadline_sweep_is_timed(app, client):
    before = scrape(client)

    sweeps.sweep_deadlines(app)

    assert moved(before, scrape(client), "tocsin_deadline_sweep_seconds_count") == 1


def test_runs_reported_and_finished_through_the_api_are_counted(api, client):
    before = scrape(client)

    run = api.post("/runs", json={"job": "nightly-report", "external_id": "r-1"}).get_json()
    api.post("/runs", json={"job": "nightly-report", "external_id": "r-1"})  # a retried report: not new
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"})
    after = scrape(client)

    assert moved(before, after, "tocsin_runs_ingested_total", kind="report") == 1
    assert moved(before, after, "tocsin_runs_ingested_total", kind="finish") == 1
