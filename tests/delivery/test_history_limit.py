"""Per-endpoint history limits (issue 16, point 5): the prune job keeps an endpoint's newest N
finished deliveries with their attempts, never a pending or sending one, and leaves endpoints
without a limit to the age rule alone."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import make_alert, make_delivery, make_endpoint, make_workspace
from webapp.extensions import db as _db
from webapp.models import Delivery, DeliveryAttempt
from webapp.services.delivery import history_limit
from webapp.services.delivery import jobs as delivery_jobs
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too

URL = "http://127.0.0.1:9/hook"


def finished(endpoint, alert, status="delivered", attempts=1) -> int:
    """A finished delivery with its attempt rows (recent: the age rule keeps them)."""
    now = utcnow()
    delivery = make_delivery(endpoint, alert, status=status, attempt_count=attempts, finished_at=now,
                             next_attempt_at=None)
    _db.session.add_all([DeliveryAttempt(workspace_id=endpoint.workspace_id, delivery_id=delivery.id, number=number,
                                        started_at=now, outcome="server_error") for number in range(1, attempts + 1)])
    _db.session.flush()
    return delivery.id


def remaining(db, endpoint) -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id)
                                   .order_by(Delivery.id)))


def attempts_left(db, delivery_ids) -> set[int]:
    return set(db.session.scalars(sa.select(DeliveryAttempt.delivery_id)
                                  .where(DeliveryAttempt.delivery_id.in_(delivery_ids))))


def test_the_newest_n_finished_deliveries_are_kept_and_pending_ones_never_pruned(app, db):
    endpoint, _ = make_endpoint(make_workspace(), URL, history_limit=3)
    alert = make_alert(endpoint)
    old_pending = make_delivery(endpoint, alert, next_attempt_at=utcnow() + timedelta(hours=1)).id
    old_sending = make_delivery(endpoint, alert, status="sending", lease_until=utcnow() + timedelta(minutes=1)).id
    finished_ids = [finished(endpoint, alert, "dead" if index % 2 else "delivered", attempts=2) for index in range(6)]
    new_pending = make_delivery(endpoint, alert).id
    db.session.commit()

    removed = delivery_jobs.prune_history(app)

    kept = finished_ids[-3:]
    assert remaining(db, endpoint) == [old_pending, old_sending, *kept, new_pending]
    assert attempts_left(db, finished_ids) == set(kept)  # the pruned ones' attempts went with them
    assert removed == 3 + 3 * 2


def test_endpoints_without_a_limit_or_under_it_keep_everything(app, db):
    workspace = make_workspace()
    unlimited, _ = make_endpoint(workspace, URL, name="unlimited")
    roomy, _ = make_endpoint(workspace, URL, name="roomy", history_limit=10)
    kept = {endpoint.id: [finished(endpoint, make_alert(endpoint, slug=f"job-{endpoint.id}")) for _ in range(4)]
            for endpoint in (unlimited, roomy)}
    db.session.commit()

    assert delivery_jobs.prune_history(app) == 0

    assert remaining(db, unlimited) == kept[unlimited.id] and remaining(db, roomy) == kept[roomy.id]


def test_each_endpoint_is_limited_on_its_own_and_in_bounded_batches(app, db, monkeypatch):
    monkeypatch.setattr(history_limit, "BATCH", 4)
    workspace = make_workspace()
    one, _ = make_endpoint(workspace, URL, name="one", history_limit=1)
    two, _ = make_endpoint(workspace, URL, name="two", history_limit=5)
    ones = [finished(one, make_alert(one, slug="one")) for _ in range(11)]
    twos = [finished(two, make_alert(two, slug="two")) for _ in range(7)]
    db.session.commit()
    statements = []

    def count_deletes(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM DELIVERY "):
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count_deletes)
    try:
        history_limit.prune_beyond_limits()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count_deletes)

    assert remaining(db, one) == ones[-1:] and remaining(db, two) == twos[-5:]
    assert len(statements) == 3 + 1  # 10 of one's in batches of 4, then 2 of two's
