"""/metrics: Prometheus text behind a bearer token, hidden when no token is configured."""
import pytest

from webapp.models import Delivery, Endpoint, Workspace
from webapp.services import metrics
from webapp.timeutil import utcnow


@pytest.fixture
def app_config():
    return {"TOCSIN_METRICS_TOKEN": "scrape-me"}


def test_metrics_need_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_are_404_when_no_token_is_configured(tmp_path):
    from tests.conftest import make_app

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
