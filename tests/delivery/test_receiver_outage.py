"""A receiver outage under real gunicorn (2 workers × 4 threads, scheduler on): the receiver's
port refuses connections for five minutes scaled by TOCSIN_RETRY_SCALE (which scales the
back-off schedule alike) while 5,000 alerts are raised through the API. When the receiver
listens on the same port again, every delivery arrives, each webhook-id exactly once."""
import time

import pytest

from bench.faults_receiver import report_failed_runs, wait_for_deliveries
from bench.unreliable_receiver import RefusingPort, start
from tests.support import receiver_faults as faults
from tests.support.gunicorn import gunicorn

REPORTS, RULES = 500, 10  # each failed run raises one alert per rule: 5,000 alerts
ALERTS = REPORTS * RULES
REAL_OUTAGE_SECONDS = 300
RETRY_SCALE = 0.05  # 5 minutes → 15 s; should raising the alerts take longer, the outage lasts until it ends


@pytest.fixture
def refusing_port():
    held = RefusingPort()
    yield held
    held.close()


def test_every_alert_raised_during_an_outage_arrives_once_after_it(tmp_path, refusing_port, database_uri):
    seeded = faults.Seeded()
    seed = faults.seed_alerting_workspace(refusing_port.url(), seeded, timeout_seconds=2, rules=RULES)
    with gunicorn(tmp_path, workers=2, threads=4, database_uri=database_uri, seed=seed,
                  TOCSIN_RETRY_SCALE=str(RETRY_SCALE), **faults.SERVER_SETTINGS) as base_url:
        outage_began = time.monotonic()
        reported = report_failed_runs(int(base_url.rsplit(":", 1)[1]), seeded.api_key, REPORTS)
        assert (reported.created, reported.errors) == (REPORTS, 0), reported.first_error
        time.sleep(max(0.0, outage_began + REAL_OUTAGE_SECONDS * RETRY_SCALE - time.monotonic()))
        outage_lasted = time.monotonic() - outage_began
        refused_during_outage = sum(attempts for _, attempts in faults.deliveries(database_uri).values())
        receiver = start(held=refusing_port)
        try:
            wait_for_deliveries(receiver, ALERTS)
            time.sleep(1.0)  # anything sent twice would arrive about now
            stats, arrived = receiver.stats(), receiver.deliveries()
        finally:
            receiver.stop()
        rows = faults.deliveries(database_uri)
    first_tried_after = sum(1 for _, attempts in rows.values() if attempts == 1)
    print(f"\nreceiver outage ({database_uri.split(':')[0]}): {ALERTS:,} alerts raised in {reported.seconds:.1f} s "
          f"during a {outage_lasted:.1f} s outage (5 min × {RETRY_SCALE}), {refused_during_outage:,} attempts "
          f"refused; after it {stats['delivered']:,} delivered in {stats['last_delivery'] - receiver.ready_at:.1f} s "
          f"(drain; {first_tried_after:,} had not been tried yet), {stats['duplicates']} duplicates, "
          f"{stats['posts']:,} POSTs")
    assert set(arrived) == set(rows), "the receiver saw other ids than the database holds"
    assert stats["duplicates"] == 0 and all(successes == 1 for _, _, successes, _ in arrived.values())
    assert {status for status, _ in rows.values()} == {"delivered"}
