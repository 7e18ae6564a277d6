"""What the receiver-fault tests share (tests/delivery/test_receiver_outage.py, test_flaky_receiver.py):
settings for Tocsin under gunicorn with its scheduler on and the per-endpoint limits raised, a
seed with one workspace, API key, endpoint and alert-on-every-failure rule, and the deliveries as
the database holds them. The reports and the wait come from bench/faults_receiver.py, as the
benchmark's scenarios send and count them."""
from dataclasses import dataclass, field

import sqlalchemy as sa

from tests.support.factories import make_endpoint
from webapp.extensions import db
from webapp.models import Delivery, Rule, Workspace
from webapp.services import accounts

# Per-endpoint limits raised so one endpoint drains at the speed of the send threads
# (2 workers × 8), and the API's per-key limits out of the way of a test's burst of reports.
SERVER_SETTINGS = {
    "TOCSIN_SCHEDULER": "on", "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8",
    "TOCSIN_ENDPOINT_RATE": "5000", "TOCSIN_ENDPOINT_CONCURRENCY": "16",
    "TOCSIN_API_REPORT_RATE": "100000", "TOCSIN_API_REPORT_BURST": "100000",
    "TOCSIN_HEARTBEAT_INTERVAL": "5",
}


@dataclass
class Seeded:
    api_key: str = ""
    endpoint_id: int = 0
    workspace_id: int = 0
    extra: dict = field(default_factory=dict)


def seed_alerting_workspace(url: str, seeded: Seeded, *, timeout_seconds: int = 5, rules: int = 1):
    """A `seed(app)` for tests/support/gunicorn.py: an owner with an API key, one endpoint at
    `url` and `rules` rules each raising an alert on every failed run of any job (cooldown 0),
    so one report raises `rules` alerts, each with its delivery."""
    def seed(app) -> None:
        user = accounts.create_user("owner@example.com", "correct horse battery")
        db.session.flush()
        _, seeded.api_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="faults")
        endpoint, _ = make_endpoint(db.session.get(Workspace, user.workspace_id), url,
                                    timeout_seconds=timeout_seconds)
        db.session.add_all([Rule(workspace_id=user.workspace_id, name=f"every failure {number}", event="run_failed",
                                 severity="critical", cooldown_seconds=0, endpoints=[endpoint])
                            for number in range(rules)])
        db.session.flush()
        seeded.endpoint_id, seeded.workspace_id = endpoint.id, user.workspace_id
    return seed


def deliveries(database_uri: str) -> dict[str, tuple[str, int]]:
    """{webhook-id: (status, attempt count)} of every delivery, read with a fresh connection."""
    engine = sa.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            return {message_id: (status, attempts) for message_id, status, attempts in connection.execute(
                sa.select(Delivery.message_id, Delivery.status, Delivery.attempt_count))}
    finally:
        engine.dispose()
