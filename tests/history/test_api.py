"""/api/v1/deliveries: the history as JSON (filters, a keyset cursor that never skips or repeats
a row while new ones arrive), one delivery with its attempts (signatures masked) and redeliver
— all limited to the caller's workspace (blueprints/api/deliveries.py, services/history.py)."""
import json

import pytest
import sqlalchemy as sa

from tests.support.factories import (
    saved_alert,
    saved_attempt,
    saved_deliveries,
    saved_delivery,
    saved_endpoint,
    saved_rule,
    workspace_id_of,
)
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


@pytest.fixture
def owner(api):
    return workspace_id_of()


@pytest.fixture
def endpoint(owner):
    return saved_endpoint(owner)


@pytest.fixture(autouse=True)
def sends_finish_before_teardown():
    yield
    pool.wait_idle()  # a redeliver's send finishes before the database goes away


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def walk(api, query: str, limit: int) -> list[int]:
    """Every page of a listing, following next_cursor."""
    seen, cursor = [], None
    while True:
        response = api.get(f"/deliveries?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        page = ids(response)
        assert len(page) <= limit
        seen += page
        cursor = response.json["next_cursor"]
        if cursor is None:
            return seen
        assert isinstance(cursor, str)


# --- listing -----------------------------------------------------------------------------------


def test_cursor_walks_every_row_once_newest_first(api, endpoint):
    created = saved_deliveries(endpoint, 23)
    assert walk(api, "", limit=5) == sorted(created, reverse=True)
    assert walk(api, "", limit=23) == sorted(created, reverse=True)


def test_next_page_is_stable_while_new_deliveries_arrive(api, endpoint):
    created = sorted(saved_deliveries(endpoint, 12), reverse=True)
    first = api.get("/deliveries?limit=5")
    assert ids(first) == created[:5]
    arrived = [saved_delivery(endpoint, status="pending").id for _ in range(3)]

    assert ids(api.get(f"/deliveries?limit=5&cursor={first.json['next_cursor']}")) == created[5:10]
    assert ids(api.get("/deliveries?limit=5"))[:3] == sorted(arrived, reverse=True)  # new rows: on a fresh page 1


def test_filters_by_endpoint_rule_and_status(api, owner, endpoint):
    other_endpoint = saved_endpoint(owner, "Other hook")
    rule = saved_rule(owner)
    by_rule = saved_delivery(endpoint, rule=rule, status="dead", attempt_count=8).id
    retrying = saved_delivery(endpoint, status="pending", attempt_count=2).id
    waiting = saved_delivery(endpoint, status="pending", attempt_count=0).id
    elsewhere = saved_delivery(other_endpoint, status="delivered", attempt_count=1).id

    assert ids(api.get(f"/deliveries?endpoint_id={other_endpoint.id}")) == [elsewhere]
    assert ids(api.get(f"/deliveries?endpoint_id={endpoint.id}")) == [waiting, retrying, by_rule]
    assert ids(api.get(f"/deliveries?rule_id={rule.id}")) == [by_rule]
    assert ids(api.get("/deliveries?status=failed-retrying")) == [retrying]
    assert ids(api.get("/deliveries?status=pending")) == [waiting]
    assert ids(api.get(f"/deliveries?status=dead&rule_id={rule.id}&endpoint_id={endpoint.id}")) == [by_rule]
    assert ids(api.get(f"/deliveries?status=delivered&endpoint_id={endpoint.id}")) == []


def test_list_items_carry_the_history_fields_and_no_secrets(api, owner, endpoint):
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status="pending", attempt_count=1,
                             last_http_status=503, last_duration_ms=120, next_attempt_at=utcnow())
    (item,) = api.get("/deliveries").json["items"]
    assert item["message_id"] == delivery.message_id and item["message_id"].startswith("msg_")
    assert (item["status"], item["attempt_count"], item["last_http_status"]) == ("pending", 1, 503)
    assert item["next_attempt_at"] is not None and item["endpoint_id"] == endpoint.id
    assert "secret" not in json.dumps(item).lower()


@pytest.mark.parametrize("query, field", [
    ("status=exploded", "status"), ("status=failed", "status"), ("endpoint_id=abc", "endpoint_id"),
    ("endpoint_id=999999", "endpoint_id"), ("rule_id=-1", "rule_id"), ("limit=0", "limit"),
    ("limit=201", "limit"), ("limit=many", "limit"), ("cursor=abc", "cursor"), ("is_test=maybe", "is_test"),
])
def test_bad_filters_answer_400_invalid_filter(api, endpoint, query, field):
    response = api.get(f"/deliveries?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_filter"
    assert field in response.json["error"]["fields"]


# --- one delivery --------------------------------------------------------------------------------


def test_delivery_json_lists_every_attempt_with_signatures_masked(app, api, owner, receiver):
    endpoint = saved_endpoint(owner, url=receiver.url())
    delivery_id = saved_delivery(endpoint, alert=saved_alert(owner), status="pending").id
    receiver.respond(500, body="try later")
    for _ in range(2):  # the real engine: a 500, then a 200
        _db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=utcnow()))
        _db.session.commit()
        delivery_jobs.retry_due_deliveries(app)
        assert pool.wait_idle()

    response = api.get(f"/deliveries/{delivery_id}")

    assert response.status_code == 200
    body = response.json
    assert (body["status"], body["attempt_count"]) == ("delivered", 2)
    attempts = body["attempts"]
    assert [(a["number"], a["http_status"], a["outcome"]) for a in attempts] == [
        (1, 500, "server_error"), (2, 200, "success")]
    assert attempts[0]["response_excerpt"] == "try later"
    for attempt, request in zip(attempts, receiver.wait_for(2), strict=True):
        headers = {name.lower(): value for name, value in attempt["request_headers"].items()}
        assert headers["webhook-id"] == body["message_id"] == request.headers["webhook-id"]
        assert headers["webhook-signature"] == "v1,••••"
        assert request.headers["webhook-signature"].split(",", 1)[1] not in response.get_data(as_text=True)
        assert json.loads(attempt["request_body"])["type"] == "alert.fired"


def test_signature_stored_unmasked_is_still_masked_in_the_json(api, endpoint):
    delivery = saved_delivery(endpoint, attempt_count=1)
    saved_attempt(delivery, 1, 200, "success",
                 request_headers={"webhook-signature": "v1,c2VjcmV0LXNpZw== v1,b3RoZXI="})
    attempt = api.get(f"/deliveries/{delivery.id}").json["attempts"][0]
    assert attempt["request_headers"]["webhook-signature"] == "v1,•••• v1,••••"


# --- redeliver -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["delivered", "dead"])
def test_redeliver_queues_a_finished_delivery_again_with_the_same_message_id(api, owner, receiver, status):
    endpoint = saved_endpoint(owner, url=receiver.url())
    delivery = saved_delivery(endpoint, alert=saved_alert(owner), status=status, attempt_count=3, max_attempts=3,
                             finished_at=utcnow())
    delivery_id, message_id = delivery.id, delivery.message_id

    response = api.post(f"/deliveries/{delivery_id}/redeliver")

    assert response.status_code == 202
    assert (response.json["status"], response.json["message_id"]) == ("pending", message_id)
    assert receiver.wait_for(1)[0].headers["webhook-id"] == message_id
    assert pool.wait_idle()
    _db.session.expire_all()
    delivery = _db.session.get(Delivery, delivery_id)
    assert (delivery.status, delivery.attempt_count, delivery.message_id) == ("delivered", 4, message_id)
    event = _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.redeliver"))
    assert event.object_id == str(delivery_id) and "the API" in event.summary


@pytest.mark.parametrize("status, attempts", [("pending", 0), ("pending", 2), ("sending", 1)])
def test_redeliver_of_a_delivery_still_in_progress_is_409(api, endpoint, status, attempts):
    delivery = saved_delivery(endpoint, status=status, attempt_count=attempts)
    response = api.post(f"/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 409 and response.json["error"]["code"] == "conflict"
    _db.session.expire_all()
    assert _db.session.get(Delivery, delivery.id).status == status
    assert _db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "delivery.redeliver")) is None


# --- other workspaces ----------------------------------------------------------------------------


def test_another_workspaces_deliveries_are_invisible_and_404(api, other_api, endpoint):
    delivery = saved_delivery(endpoint, status="dead", attempt_count=8)

    assert ids(other_api.get("/deliveries")) == []
    assert other_api.get(f"/deliveries/{delivery.id}").status_code == 404
    assert other_api.post(f"/deliveries/{delivery.id}/redeliver").status_code == 404
    filtered = other_api.get(f"/deliveries?endpoint_id={endpoint.id}")
    assert filtered.status_code == 400 and filtered.json["error"]["code"] == "invalid_filter"
    assert other_api.get("/deliveries/not-an-id").status_code == 404
    _db.session.expire_all()
    assert _db.session.get(Delivery, delivery.id).status == "dead"
    assert ids(api.get("/deliveries")) == [delivery.id]
