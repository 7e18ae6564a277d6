"""Claims: one atomic statement takes due deliveries with a lease, never the same row twice,
and holds each endpoint to its concurrency and rate limits (the excess waits as pending)."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_alert, make_deliveries, make_delivery, make_endpoint, make_workspace
from webapp.models import Delivery, DeliveryAttempt
from webapp.services.delivery import claims
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def endpoint(db):
    endpoint, _ = make_endpoint(make_workspace(), URL, timeout_seconds=5)
    db.session.commit()
    return endpoint


def statuses(db):
    db.session.expire_all()
    return dict(db.session.execute(sa.select(Delivery.id, Delivery.status)).all())


def test_claim_takes_due_rows_once_with_a_lease(app, db, endpoint):
    due = make_delivery(endpoint).id
    later = make_delivery(endpoint, next_attempt_at=utcnow() + timedelta(minutes=5)).id
    db.session.commit()
    before = utcnow()

    claimed = claims.claim_due(10)

    assert [delivery_id for delivery_id, _ in claimed] == [due]
    lease = claimed[0][1]
    margin = app.config.get("TOCSIN_LEASE_MARGIN", claims.DEFAULT_LEASE_MARGIN_SECONDS)
    expected = timedelta(seconds=claims.lease_seconds(endpoint.timeout_seconds, margin))
    assert before + expected <= lease <= utcnow() + expected
    assert statuses(db) == {due: "sending", later: "pending"}
    assert claims.claim_due(10) == []
    assert claims.claim_one(due) is None


def test_the_lease_covers_twice_any_timeout_up_to_300_seconds_plus_the_margin(app, db):
    """Timeouts round up to a few lease buckets (one CASE of 15, not 300): never a shorter lease."""
    workspace = make_workspace()
    timeouts = (1, 4, 25, 31, 100, 299, 300)
    by_delivery = {}
    for timeout in timeouts:
        endpoint, _ = make_endpoint(workspace, URL, timeout_seconds=timeout, name=f"timeout {timeout}")
        by_delivery[make_delivery(endpoint).id] = timeout
    db.session.commit()
    margin = app.config.get("TOCSIN_LEASE_MARGIN", claims.DEFAULT_LEASE_MARGIN_SECONDS)
    before = utcnow()

    claimed = dict(claims.claim_due(len(timeouts)))

    assert set(claimed) == set(by_delivery)
    for delivery_id, lease in claimed.items():
        timeout = by_delivery[delivery_id]
        assert lease - before >= timedelta(seconds=2 * timeout + margin), timeout
        bucket = min(seconds for seconds in claims.LEASE_TIMEOUT_BUCKETS if seconds >= timeout)
        assert lease <= utcnow() + timedelta(seconds=claims.lease_seconds(bucket, margin)), timeout
    assert len(claims.LEASE_TIMEOUT_BUCKETS) <= 20 and claims.LEASE_TIMEOUT_BUCKETS[-1] == 300


def test_expired_lease_is_claimed_again_but_a_live_one_is_not(db, endpoint):
    now = utcnow()
    crashed = make_delivery(endpoint, status="sending", lease_until=now - timedelta(seconds=1)).id
    alive = make_delivery(endpoint, status="sending", lease_until=now + timedelta(minutes=1)).id
    db.session.commit()

    assert [delivery_id for delivery_id, _ in claims.claim_due(10)] == [crashed]
    assert statuses(db)[alive] == "sending"


def test_finished_rows_are_never_claimed(db, endpoint):
    alert = make_alert(endpoint)
    make_delivery(endpoint, alert, status="delivered", finished_at=utcnow())
    make_delivery(endpoint, alert, status="dead", finished_at=utcnow())
    db.session.commit()
    assert claims.claim_due(10) == []


def test_claim_one_takes_only_that_row(db, endpoint):
    alert = make_alert(endpoint)
    first, second = make_delivery(endpoint, alert).id, make_delivery(endpoint, alert).id
    db.session.commit()

    delivery_id, lease = claims.claim_one(second)
    assert delivery_id == second and lease > utcnow()
    assert statuses(db) == {first: "pending", second: "sending"}


def test_released_claim_is_pending_again(db, endpoint):
    delivery_id = make_delivery(endpoint).id
    db.session.commit()
    _, lease = claims.claim_one(delivery_id)

    assert claims.release(delivery_id, lease)
    assert statuses(db)[delivery_id] == "pending"
    assert not claims.release(delivery_id, lease)  # no longer ours


def test_endpoint_concurrency_limit_leaves_the_excess_pending(app, db, endpoint):
    app.config.update(TOCSIN_ENDPOINT_CONCURRENCY=2, TOCSIN_ENDPOINT_RATE=100)
    other, _ = make_endpoint(make_workspace("other"), URL)
    ids = make_deliveries(5, endpoint, make_alert(endpoint))
    other_ids = make_deliveries(3, other, make_alert(other))
    db.session.commit()

    first = {delivery_id for delivery_id, _ in claims.claim_due(100)}
    assert first == set(ids[:2]) | set(other_ids[:2])  # oldest first, each endpoint within its limit
    assert claims.claim_due(100) == []
    assert claims.claim_one(ids[4]) is None  # first attempts respect the limit too

    db.session.execute(sa.update(Delivery).where(Delivery.id == ids[0]).values(status="delivered", lease_until=None))
    db.session.commit()
    assert [delivery_id for delivery_id, _ in claims.claim_due(100)] == [ids[2]]
    assert sorted(status for delivery_id, status in statuses(db).items() if delivery_id in ids) == \
        ["delivered", "pending", "pending", "sending", "sending"]


def test_endpoint_rate_limit_counts_attempts_started_in_the_last_second(app, db, endpoint):
    app.config.update(TOCSIN_ENDPOINT_CONCURRENCY=50, TOCSIN_ENDPOINT_RATE=3)
    ids = make_deliveries(10, endpoint, make_alert(endpoint))
    now = utcnow()
    for number, started in enumerate([now - timedelta(milliseconds=300), now - timedelta(seconds=5)], start=1):
        db.session.add(DeliveryAttempt(workspace_id=endpoint.workspace_id, delivery_id=ids[-1], number=number,
                                       started_at=started, outcome="server_error"))
    db.session.commit()

    claimed = claims.claim_due(100)
    assert len(claimed) == 2  # 3 per second, one attempt started 0.3 s ago
    assert claims.claim_due(100) == []  # in-flight attempts count as started


def test_concurrent_claimers_never_take_the_same_row(app, db, endpoint):
    app.config.update(TOCSIN_ENDPOINT_CONCURRENCY=1000, TOCSIN_ENDPOINT_RATE=1000)
    ids = make_deliveries(300, endpoint, make_alert(endpoint))
    db.session.commit()
    taken: list[int] = []
    lock = threading.Lock()

    def claimer():
        with app.app_context():
            while batch := claims.claim_due(7):
                with lock:
                    taken.extend(delivery_id for delivery_id, _ in batch)
            from webapp.extensions import db as thread_db
            thread_db.session.remove()

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == ids
