"""PagerDuty Events API v2: an alert is one incident (dedup key `tocsin-alert-<id>`) that the
failure triggers and the next success resolves, over real HTTP through the alert lifecycle;
the routing key is required, encrypted, masked in the API and never kept in clear in the history."""
import json

import pytest
import sqlalchemy as sa

from tests.formats.helpers import ROUTING_KEY, long_context
from webapp.models import AuditEvent, DeliveryAttempt, Endpoint
from webapp.services import crypto
from webapp.services.delivery import pool
from webapp.services.formats import pagerduty

MASK = "••••••"


@pytest.fixture
def app_config():
    return {"TOCSIN_ENDPOINT_CONCURRENCY": 50, "TOCSIN_ENDPOINT_RATE": 1000}


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def pagerduty_hook(api, receiver) -> dict:
    response = api.post("/endpoints", json={"name": "On-call", "url": receiver.url("/v2/enqueue"),
                                            "format": "pagerduty", "routing_key": ROUTING_KEY})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def report(api, status, **fields):
    response = api.post("/runs", json={"job": "billing-nightly", "status": status, **fields})
    assert response.status_code == 201, response.get_json()


def test_failure_triggers_and_the_next_success_resolves_with_the_same_dedup_key(api, db, receiver, pagerduty_hook):
    response = api.post("/rules", json={"name": "Billing fails", "event": "run_failed", "severity": "warning",
                                        "endpoint_ids": [pagerduty_hook["id"]]})
    assert response.status_code == 201, response.get_json()

    report(api, "failed", message="exit code 3")
    [fired] = receiver.wait_for(1)
    report(api, "succeeded")
    [fired, resolved] = receiver.wait_for(2)

    trigger, resolve = fired.json(), resolved.json()
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert trigger["dedup_key"].startswith("tocsin-alert-") and trigger["dedup_key"] != "tocsin-alert-"
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    payload = trigger["payload"]
    assert payload["severity"] == "warning" and payload["source"] == "billing-nightly"
    assert "exit code 3" in payload["summary"] and payload["timestamp"].endswith("Z")
    assert payload["custom_details"]["alert_type"] == "run_failed"
    assert trigger["links"][0]["href"].startswith("http://tocsin.test/alerts/")
    assert fired.headers["content-type"] == "application/json"


def test_the_history_never_keeps_the_routing_key_in_clear(api, db, receiver, pagerduty_hook):
    result = api.post(f"/endpoints/{pagerduty_hook['id']}/test").get_json()
    assert result["outcome"] == "success", result
    assert receiver.wait_for(1)[0].json()["routing_key"] == ROUTING_KEY

    db.session.rollback()
    [record] = db.session.scalars(sa.select(DeliveryAttempt)).all()
    assert json.loads(record.request_body)["routing_key"] == MASK
    assert ROUTING_KEY not in record.request_body and ROUTING_KEY not in json.dumps(record.request_headers)
    detail = api.get(f"/deliveries/{result['delivery_id']}").get_data(as_text=True)
    assert ROUTING_KEY not in detail and "dedup_key" in detail
    audit = " ".join(event.summary for event in db.session.scalars(sa.select(AuditEvent)))
    assert ROUTING_KEY not in audit


def test_the_routing_key_is_stored_encrypted_and_masked_in_the_api(api, db, pagerduty_hook):
    assert pagerduty_hook["routing_key"] == MASK and pagerduty_hook["access_token"] is None
    endpoint = db.session.get(Endpoint, pagerduty_hook["id"])
    assert ROUTING_KEY not in endpoint.routing_key_encrypted
    assert crypto.decrypt(endpoint.routing_key_encrypted) == ROUTING_KEY

    kept = api.patch(f"/endpoints/{pagerduty_hook['id']}", json={"routing_key": MASK, "name": "On-call 2"})
    assert kept.status_code == 200 and kept.get_json()["routing_key"] == MASK
    db.session.expire_all()
    assert crypto.decrypt(db.session.get(Endpoint, pagerduty_hook["id"]).routing_key_encrypted) == ROUTING_KEY

    api.patch(f"/endpoints/{pagerduty_hook['id']}", json={"routing_key": "n" * 32})
    db.session.expire_all()
    assert crypto.decrypt(db.session.get(Endpoint, pagerduty_hook["id"]).routing_key_encrypted) == "n" * 32


@pytest.mark.parametrize("routing_key, words", [
    (None, "needs a routing key"), ("", "needs a routing key"), ("has space", "no spaces"),
    ("k" * 129, "longer than 128"), (42, "must be text"),
])
def test_a_missing_or_bad_routing_key_is_a_validation_error(api, receiver, routing_key, words):
    body = {"name": "On-call", "url": receiver.url(), "format": "pagerduty"}
    if routing_key is not None:
        body["routing_key"] = routing_key
    response = api.post("/endpoints", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and words in error["fields"]["routing_key"]


def test_switching_to_pagerduty_needs_a_routing_key(api, receiver):
    created = api.post("/endpoints", json={"name": "Hook", "url": receiver.url()}).get_json()
    response = api.patch(f"/endpoints/{created['id']}", json={"format": "pagerduty"})
    assert response.status_code == 400 and "routing_key" in response.get_json()["error"]["fields"]
    response = api.patch(f"/endpoints/{created['id']}", json={"format": "pagerduty", "routing_key": ROUTING_KEY})
    assert response.status_code == 200 and response.get_json()["format"] == "pagerduty"


def test_severity_source_and_a_repeat_map_to_pagerduty_words(app):
    context = long_context("disk full")
    context["alert"]["severity"] = "info"
    body = pagerduty.pagerduty_body("alert.repeated", context, "key")
    assert (body["event_action"], body["payload"]["severity"], body["dedup_key"]) == ("trigger", "info",
                                                                                    "tocsin-alert-812")
    context["job"] = None
    assert pagerduty.pagerduty_body("alert.fired", context, "key")["payload"]["source"] == "tocsin.test"


def test_the_preview_shows_the_routing_key_masked(auth, client, receiver):
    auth.signup()
    page = client.post("/settings/alerts/endpoints/new", data={
        "name": "On-call", "url": receiver.url(), "format": "pagerduty", "routing_key": ROUTING_KEY,
        "timeout_seconds": 10, "preview": "Preview payload"}).get_data(as_text=True)
    assert "&#34;routing_key&#34;: &#34;••••••&#34;" in page or '"routing_key": "••••••"' in page
    assert ROUTING_KEY not in page


def test_the_form_stores_the_routing_key_and_an_empty_field_on_edit_keeps_it(auth, client, db, receiver):
    auth.signup()
    form = {"name": "On-call", "url": receiver.url(), "format": "pagerduty", "timeout_seconds": 10}
    missing = client.post("/settings/alerts/endpoints/new", data=form).get_data(as_text=True)
    assert "PagerDuty needs a routing key" in missing

    response = client.post("/settings/alerts/endpoints/new", data={**form, "routing_key": ROUTING_KEY})
    assert response.status_code == 302
    endpoint = db.session.scalar(sa.select(Endpoint))
    detail = client.get(f"/settings/alerts/endpoints/{endpoint.id}").get_data(as_text=True)
    edit = client.get(f"/settings/alerts/endpoints/{endpoint.id}/edit").get_data(as_text=True)
    assert "Routing key" in detail and ROUTING_KEY not in detail and ROUTING_KEY not in edit
    assert 'data-for-format="pagerduty"' in edit

    saved = client.post(f"/settings/alerts/endpoints/{endpoint.id}/edit", data={**form, "name": "On-call 2"})
    assert saved.status_code == 302
    db.session.expire_all()
    endpoint = db.session.get(Endpoint, endpoint.id)
    assert endpoint.name == "On-call 2" and crypto.decrypt(endpoint.routing_key_encrypted) == ROUTING_KEY
