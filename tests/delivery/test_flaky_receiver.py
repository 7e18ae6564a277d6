"""A flaky receiver under real gunicorn (2 workers × 4 threads, scheduler on): 1 % of attempts
answer 500 or hang past the endpoint's 1 s timeout. 5,000 deliveries, written at a steady
250/s, all arrive in the end, each
webhook-id exactly once; the retried share and the retried deliveries' extra latency (arrival −
first attempt, at the receiver) are printed, and the delivered share with enough digits to
show 99.99 %."""
import time

import pytest

from bench.faults_receiver import wait_for_deliveries
from bench.server_runs import percentile
from bench.unreliable_receiver import start
from tests.support import receiver_faults as faults
from tests.support.app import make_app
from tests.support.factories import make_alert, make_deliveries, make_endpoint, make_workspace
from tests.support.gunicorn import gunicorn
from webapp.extensions import db
from webapp.models import Alert, Endpoint

DELIVERIES = 5_000
FAIL_SHARE = 0.01
TIMEOUT_SECONDS, HANG_SECONDS = 1, 1.5
RETRY_SCALE = 0.01  # back-off 10 s → 0.1 s; 60 s after a timeout → 0.6 s
BATCH, PER_SECOND = 25, 250


@pytest.fixture
def flaky_receiver():
    receiver = start(fail_share=FAIL_SHARE, hang_seconds=HANG_SECONDS)
    yield receiver
    receiver.stop()


def one_endpoint(url: str, owner: dict):
    """A `seed(app)`: one endpoint with a 1 s timeout and an alert whose deliveries the test adds."""
    def seed(app) -> None:
        endpoint, _ = make_endpoint(make_workspace("flaky"), url, timeout_seconds=TIMEOUT_SECONDS)
        owner.update(endpoint_id=endpoint.id, alert_id=make_alert(endpoint).id)
    return seed


def add_due_deliveries_steadily(app, owner: dict) -> None:
    """DELIVERIES due deliveries, BATCH every BATCH / PER_SECOND seconds: a steady flow that the
    server keeps up with, so a retry's extra latency is its back-off, not a backlog's queue."""
    started = time.monotonic()
    with app.app_context():
        endpoint, alert = db.session.get(Endpoint, owner["endpoint_id"]), db.session.get(Alert, owner["alert_id"])
        for number in range(DELIVERIES // BATCH):
            time.sleep(max(0.0, started + number * BATCH / PER_SECOND - time.monotonic()))
            make_deliveries(BATCH, endpoint, alert)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_a_flaky_receiver_gets_every_delivery_once(tmp_path, flaky_receiver):
    database_uri = f"sqlite:///{tmp_path / 'tocsin.db'}"
    owner: dict = {}
    with gunicorn(tmp_path, workers=2, threads=4, database_uri=database_uri, seed=one_endpoint(flaky_receiver.url(), owner),
                  TOCSIN_RETRY_SCALE=str(RETRY_SCALE), **faults.SERVER_SETTINGS):
        add_due_deliveries_steadily(make_app(tmp_path, database_uri), owner)
        wait_for_deliveries(flaky_receiver, DELIVERIES)
        stats, arrived = flaky_receiver.stats(), flaky_receiver.deliveries()
        rows = faults.deliveries(database_uri)
    retried = [delivered_at - first_at for first_at, attempts, _, delivered_at in arrived.values() if attempts > 1]
    failed = stats["errors"] + stats["hangs"]
    print(f"\nflaky receiver: {stats['delivered']:,} of {DELIVERIES:,} delivered "
          f"({100 * stats['delivered'] / DELIVERIES:.4f} %), {stats['duplicates']} duplicates; {stats['posts']:,} attempts, "
          f"{failed} failed ({stats['errors']} × 500, {stats['hangs']} hung past {TIMEOUT_SECONDS} s); "
          f"{100 * len(retried) / DELIVERIES:.2f} % retried, their extra latency p50 {percentile(retried, 0.5):.2f} s, "
          f"p99 {percentile(retried, 0.99):.2f} s (back-off × {RETRY_SCALE})")
    assert set(arrived) == set(rows)
    assert stats["duplicates"] == 0 and {status for status, _ in rows.values()} == {"delivered"}
    assert failed > 0 and len(retried) > 0
