"""Upgrading a database that wave 1 filled (migration 0006) to head keeps every row, keeps its
secrets readable, and still delivers the deliveries that were pending when the old version stopped.

The database is built by `flask db upgrade 0006` and filled with Core inserts against that schema
(tests/support/wave1_database.py), then upgraded with `flask db upgrade` as an operator would.
"""
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from standardwebhooks import Webhook

from tests.operations.test_migrations import logging_untouched, schema_drift, table_names  # noqa: F401
from tests.support import wave1_database
from tests.support.app import FreshGlobalsClient, app_settings
from webapp import create_app
from webapp.extensions import db
from webapp.models import Alert, ApiKey, Delivery, DeliveryAttempt, Endpoint, Job, Rule, Run, User, Workspace
from webapp.services import accounts
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.services.endpoints.validation import endpoint_headers

pytestmark = pytest.mark.postgres_too


@pytest.fixture
def bare_app(tmp_path, database_uri, logging_untouched):  # noqa: F811
    """The test app (loopback receivers allowed) on an empty database: no `create_all`."""
    app = create_app(app_settings(tmp_path, database_uri))
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def upgraded_wave1(bare_app, receiver) -> wave1_database.Wave1Rows:
    upgrade(revision=wave1_database.WAVE1_REVISION)
    assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0006"
    with db.engine.begin() as connection:
        rows = wave1_database.populate(connection, secret_key=bare_app.config["SECRET_KEY"],
                                       endpoint_url=receiver.url("/wave1?team=ops"))
    upgrade()
    return rows


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_upgrade_from_wave1_keeps_every_row_and_its_key_fields(bare_app, receiver):
    written = upgraded_wave1(bare_app, receiver)

    assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0020"
    assert table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert schema_drift() == []
    models = {"user": User, "workspace": Workspace, "api_key": ApiKey, "job": Job, "run": Run, "rule": Rule,
              "endpoint": Endpoint, "alert": Alert, "delivery": Delivery, "delivery_attempt": DeliveryAttempt}
    assert {name: count(model) for name, model in models.items()} == {
        name: written.counts[name] for name in models}

    assert accounts.authenticate("owner@example.com", wave1_database.PASSWORD).id == 1
    assert db.session.get(Workspace, 1).name == "Wave one"
    assert [(job.slug, job.name) for job in db.session.scalars(sa.select(Job).order_by(Job.id))] == [
        ("nightly-backup", "Nightly backup"), ("hourly-sync", "Hourly sync")]
    runs = db.session.scalars(sa.select(Run).order_by(Run.id)).all()
    assert [(run.job_id, run.status, run.external_id, run.duration_ms) for run in runs] == [
        (1, "failed", "backup-1", 42000), (2, "succeeded", None, 5000), (1, "failed", "backup-2", 60000)]
    assert runs[0].run_metadata == {"host": "db-1"}


def test_upgraded_endpoint_reads_back_its_url_secret_and_headers_and_the_rule_still_routes_to_it(
        bare_app, receiver):
    written = upgraded_wave1(bare_app, receiver)

    endpoint = db.session.get(Endpoint, 1)
    assert endpoint.url == written.endpoint_url
    assert endpoint.url_host == "127.0.0.1"
    assert "team=ops" not in endpoint.url_encrypted and "/wave1" not in endpoint.url_encrypted
    assert endpoint_headers(endpoint) == {"X-Team": written.header_value}
    assert (endpoint.name, endpoint.format, endpoint.is_active, endpoint.signature_scheme) == (
        "Ops receiver", "json", True, "standard-webhooks")
    rule = db.session.get(Rule, 1)
    assert [routed.id for routed in rule.endpoints] == [1]
    assert (rule.event, rule.job_filter, rule.severity, rule.is_active) == (
        "run_failed", "nightly-*", "critical", True)
    alerts = db.session.scalars(sa.select(Alert).order_by(Alert.id)).all()
    assert [(alert.rule_id, alert.run_id, alert.state, alert.message) for alert in alerts] == [
        (1, 1, "firing", "nightly-backup failed: exit code 3"), (1, 3, "firing", "nightly-backup failed: disk full")]


def test_upgraded_api_key_still_opens_the_api_and_a_new_failure_is_routed_by_the_old_rule(bare_app, receiver):
    written = upgraded_wave1(bare_app, receiver)
    client = bare_app.test_client()
    headers = {"Authorization": f"Bearer {written.api_key}"}

    jobs = client.get("/api/v1/jobs", headers=headers)
    report = client.post("/api/v1/runs", headers=headers, json={"job": "nightly-backup", "status": "failed",
                                                                "message": "tape jammed"})

    assert jobs.status_code == 200, jobs.get_json()
    assert sorted(job["slug"] for job in jobs.get_json()["items"]) == ["hourly-sync", "nightly-backup"]
    assert report.status_code == 201, report.get_json()
    request = receiver.wait_for(1)[0]
    assert pool.wait_idle(timeout=20)
    assert request.headers["webhook-id"] not in written.pending_message_ids
    payload = Webhook(written.secret).verify(request.body, {name: request.headers[name] for name in
                                                            ("webhook-id", "webhook-timestamp", "webhook-signature")})
    assert "tape jammed" in payload["data"]["alert"]["message"]


def test_deliveries_pending_before_the_upgrade_are_delivered_once_signed_after_it(bare_app, receiver):
    written = upgraded_wave1(bare_app, receiver)

    delivery_jobs.retry_due_deliveries(bare_app)
    assert pool.wait_idle(timeout=20)

    requests = receiver.wait_for(2)
    assert sorted(request.headers["webhook-id"] for request in requests) == sorted(written.pending_message_ids)
    verifier = Webhook(written.secret)
    for request in requests:
        assert request.path == "/wave1?team=ops"
        assert request.headers["x-team"] == written.header_value
        payload = verifier.verify(request.body, {name: request.headers[name] for name in
                                                 ("webhook-id", "webhook-timestamp", "webhook-signature")})
        assert payload["type"] == "alert.fired"
        assert payload["data"]["alert"]["message"].startswith("nightly-backup failed: ")
        assert payload["data"]["job"] == {"slug": "nightly-backup", "name": "Nightly backup"}
    db.session.rollback()
    statuses = dict(db.session.execute(sa.select(Delivery.message_id, Delivery.status)).all())
    assert statuses == {written.pending_message_ids[0]: "delivered", written.pending_message_ids[1]: "delivered",
                        written.delivered_message_id: "delivered"}
    retried = db.session.scalar(sa.select(Delivery).where(Delivery.message_id == written.pending_message_ids[1]))
    assert [attempt.http_status for attempt in db.session.scalars(
        sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == retried.id)
        .order_by(DeliveryAttempt.number))] == [503, 200]

    delivery_jobs.retry_due_deliveries(bare_app)  # nothing is due any more: nothing is sent twice
    assert pool.wait_idle(timeout=20)
    assert len(receiver.requests) == 2
