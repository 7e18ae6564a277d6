"""What the receiver-fault tests share (tests/delivery/test_receiver_outage.py, test_flaky_receiver.py):
settings for Tocsin under gunicorn with its scheduler on and the per-endpoint limits raised, a
seed with one workspace, API key, endpoint and alert-on-every-failure rule, run reports from
several clients at once, and the deliveries as the database holds them."""
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from bench.load import ApiClient
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


@dataclass
class Reported:
    created: int
    errors: int
    seconds: float
    first_error: str | None


def report_failed_runs(base_url: str, api_key: str, count: int, *, clients: int = 8, jobs: int = 20) -> Reported:
    """`count` failed run reports through POST /api/v1/runs from `clients` threads at once, each
    on its own keep-alive connection; every one should raise an alert."""
    port = int(base_url.rsplit(":", 1)[1])
    numbers = iter(range(count))
    lock = threading.Lock()
    tally = {"created": 0, "errors": 0, "first_error": None}

    def client_loop() -> None:
        client = ApiClient(port, api_key)
        try:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                try:
                    status, body = client.post_run({"job": f"nightly-{number % jobs:02d}", "status": "failed",
                                                    "external_id": f"run-{number}", "message": "exit code 3"})
                except OSError as error:
                    status, body = 0, str(error).encode()
                with lock:
                    if status == 201:
                        tally["created"] += 1
                    else:
                        tally["errors"] += 1
                        tally["first_error"] = tally["first_error"] or f"HTTP {status}: {body[:200]!r}"
        finally:
            client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Reported(tally["created"], tally["errors"], time.monotonic() - started, tally["first_error"])


def deliveries(database_uri: str) -> dict[str, tuple[str, int]]:
    """{webhook-id: (status, attempt count)} of every delivery, read with a fresh connection."""
    engine = sa.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            return {message_id: (status, attempts) for message_id, status, attempts in connection.execute(
                sa.select(Delivery.message_id, Delivery.status, Delivery.attempt_count))}
    finally:
        engine.dispose()


def wait_for_deliveries(receiver, expected: int, *, stall_seconds: float = 30.0) -> dict:
    """Poll the receiver until `expected` ids were delivered, failing when none more arrive for
    `stall_seconds` (a stall is a finding, not a slow machine). Returns its last stats."""
    stats, progress_at, delivered = receiver.stats(), time.monotonic(), -1
    while stats["delivered"] < expected:
        if stats["delivered"] > delivered:
            delivered, progress_at = stats["delivered"], time.monotonic()
        elif time.monotonic() - progress_at > stall_seconds:
            raise AssertionError(f"delivery stalled: {stats['delivered']} of {expected} delivered; {stats}")
        time.sleep(0.2)
        stats = receiver.stats()
    return stats

