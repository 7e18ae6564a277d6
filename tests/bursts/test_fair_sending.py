"""No tenant starves another: a workspace whose receivers hang holds its share of the send
threads, never the threads another workspace's alert needs (issue 18, point 2)."""
import time

import pytest

from tests.support.factories import make_alert, make_deliveries, make_delivery, make_endpoint, make_workspace
from tests.support.receiver import Receiver, Response
from webapp.services.delivery import pool

SLOW_RUNS, SLOW_ENDPOINTS = 4, 3  # 12 attempts hanging on their receiver, as in the issue


@pytest.fixture
def app_config():
    # Endpoint limits out of the way (no scheduler here to claim what they hold back).
    return {"TOCSIN_SEND_WORKERS": 8, "TOCSIN_ENDPOINT_CONCURRENCY": 1000, "TOCSIN_ENDPOINT_RATE": 1e6}


@pytest.fixture
def hanging_receiver():
    receiver = Receiver().start()
    receiver.default = Response(delay=float("inf"))  # answers only when the test releases it
    yield receiver
    receiver.stop()


def _endpoint(api, name: str, url: str) -> int:
    response = api.post("/endpoints", json={"name": name, "url": url, "timeout_seconds": 30})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _rule(api, endpoint_ids: list[int]) -> None:
    response = api.post("/rules", json={"name": "failures", "event": "run_failed", "endpoint_ids": endpoint_ids})
    assert response.status_code == 201, response.get_json()


def test_an_alert_to_a_healthy_receiver_leaves_while_another_workspace_hangs_on_its_receivers(
        app, api, other_api, receiver, hanging_receiver):
    slow_endpoints = [_endpoint(other_api, f"hangs {n}", hanging_receiver.url(f"/hook/{n}"))
                      for n in range(SLOW_ENDPOINTS)]
    _rule(other_api, slow_endpoints)
    _rule(api, [_endpoint(api, "healthy", receiver.url())])
    try:
        for n in range(SLOW_RUNS):
            assert other_api.post("/runs", json={"job": f"etl-{n}", "status": "failed"}).status_code == 201
        in_flight = hanging_receiver.wait_for(8, timeout=20)  # the slow workspace's share: 8 threads

        reported_at = time.time()
        assert api.post("/runs", json={"job": "billing", "status": "failed"}).status_code == 201
        arrived = receiver.wait_for(1, timeout=20)[0]
        latency_ms = (arrived.received_at - reported_at) * 1000
        held = len(hanging_receiver.requests)
    finally:
        hanging_receiver.release.set()
    print(f"\nhealthy tenant's alert arrived {latency_ms:.0f} ms after its report, with {held} attempts of "
          f"another tenant hanging ({len(in_flight)} when it was reported)")
    assert arrived.headers["x-tocsin-event"] == "alert.fired"
    # It left while every attempt of the other workspace still hung: nothing waited for them.
    assert held <= 8, "one workspace holds at most TOCSIN_WORKSPACE_SEND_LIMIT (8) attempts at once"
    assert hanging_receiver.wait_for(SLOW_RUNS * SLOW_ENDPOINTS, timeout=30)  # the rest follow once freed
    assert pool.wait_idle(30)


def test_a_burst_of_one_workspace_does_not_queue_ahead_of_another_workspaces_alert(app, db, receiver):
    """Lanes are taken in turn: the 600 deliveries one tenant's burst queued do not delay the
    one delivery another tenant's alert queued after them."""
    busy = make_workspace("busy")
    busy_endpoints = [make_endpoint(busy, receiver.url(f"/busy/{n}"), name=f"busy {n}")[0] for n in range(3)]
    busy_ids = [delivery_id for endpoint in busy_endpoints
                for delivery_id in make_deliveries(200, endpoint, make_alert(endpoint, slug=f"etl-{endpoint.id}"))]
    quiet = make_workspace("quiet")
    quiet_endpoint = make_endpoint(quiet, receiver.url("/quiet"))[0]
    quiet_id = make_delivery(quiet_endpoint).id
    db.session.commit()

    pool.send_after_commit(app, busy_ids, busy.id)
    pool.send_after_commit(app, [quiet_id], quiet.id)
    # On a loaded machine the pool may send many of the burst before this thread queues the quiet
    # one: only what arrived after that counts against fairness.
    already = len(receiver.requests)
    arrivals = receiver.wait_for(len(busy_ids) + 1, timeout=90)
    position = next(index for index, request in enumerate(arrivals) if request.path == "/quiet")
    print(f"\nthe quiet tenant's delivery arrived as number {position + 1} of {len(arrivals)}, queued after "
          f"{len(busy_ids)} of the busy tenant ({already} had arrived when it was queued)")
    assert position - already < 50, "it waited for the busy tenant's queue"
    assert pool.wait_idle(30)
