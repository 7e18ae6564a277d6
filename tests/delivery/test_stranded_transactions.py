"""A host that loses its link between a claim's (or an outcome's) statements and its COMMIT leaves a
PostgreSQL session idle in its transaction, holding the claim lock or leased rows; the server
would keep them for hours (until TCP keepalive gives up). The engine limits how long its
transactions may sit idle to the lease margin, so the other hosts go on. An idle session on
loopback stands in for the stranded one (tests/operations/test_lost_host.py cuts a real link)."""
import threading

import pytest
import sqlalchemy as sa

from tests.support.factories import make_delivery, make_endpoint, make_workspace
from webapp.database import is_postgresql
from webapp.services.delivery import claims
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too


@pytest.fixture
def app_config():
    return {"TOCSIN_LEASE_MARGIN": 1.0}


@pytest.fixture
def stranded(app, db):
    if not is_postgresql(db.engine):
        pytest.skip("SQLite has no server-side session to strand")
    connection = db.engine.connect()
    yield connection
    connection.invalidate()


def claim_in_thread(app, limit=10, timeout=30.0) -> list:
    """claim_due in a thread of its own (a second host), failing instead of hanging for ever."""
    result = []

    def claim():
        with app.app_context():
            result.extend(claims.claim_due(limit))

    thread = threading.Thread(target=claim, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the claim waited behind the stranded transaction"
    return result


def test_a_claim_transaction_left_idle_is_ended_so_the_other_hosts_claims_go_on(app, db, stranded):
    endpoint, _ = make_endpoint(make_workspace(), "http://127.0.0.1:9/hook")
    delivery_id = make_delivery(endpoint).id
    db.session.commit()
    claims.take_claim_lock(stranded)  # … and the link is gone before the COMMIT

    claimed = claim_in_thread(app)

    print(f"claimed {len(claimed)} behind a stranded claim lock")
    assert [claimed_id for claimed_id, _ in claimed] == [delivery_id]
    with pytest.raises(sa.exc.DBAPIError, match="idle-in-transaction timeout"):  # the server ended it
        stranded.execute(sa.text("SELECT 1"))


def test_rows_locked_by_an_idle_outcome_write_are_freed_for_the_takeover(app, db, stranded):
    endpoint, _ = make_endpoint(make_workspace(), "http://127.0.0.1:9/hook")
    delivery_id = make_delivery(endpoint, status="sending", lease_until=utcnow()).id  # its lease has expired
    db.session.commit()
    claims.limit_stranded_transaction(stranded)  # as outcomes.write opens its transaction
    stranded.execute(sa.text("SELECT id FROM delivery WHERE id = :id FOR UPDATE"), {"id": delivery_id})

    taken = []
    for _ in range(300):  # SKIP LOCKED passes the row by until the server ends the idle transaction
        taken = claim_in_thread(app)
        if taken:
            break
        threading.Event().wait(0.1)

    print(f"took over {len(taken)} row locked by a stranded outcome write")
    assert [claimed_id for claimed_id, _ in taken] == [delivery_id]
