"""A person's actions on alerts through /api/v1/alerts and the pages: resolve (audited, 409 the
second time, `alert.resolved` sent), acknowledge with a note and undo it (audited), the alert
JSON's lifecycle fields, and `?state=` in the API and on the Alerts page with its counts."""
import re

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from webapp.models import Alert, AuditEvent
from webapp.services.delivery import pool


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def hook(api, receiver) -> dict:
    response = api.post("/endpoints", json={"name": "Ops webhook", "url": receiver.url()})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def rule(api, hook) -> dict:
    response = api.post("/rules", json={"name": "Failures", "event": "run_failed", "severity": "critical",
                                        "endpoint_ids": [hook["id"]], "cooldown_seconds": 0})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fire(api, receiver, count=1, job="nightly-report") -> list[int]:
    """`count` firing alerts, each through a failed run and its delivered alert.fired."""
    already = len(receiver.requests)
    for _ in range(count):
        assert api.post("/runs", json={"job": job, "status": "failed"}).status_code == 201
    receiver.wait_for(already + count)
    assert pool.wait_idle(30)
    return sorted(item["id"] for item in api.get("/alerts?state=firing").get_json()["items"])[-count:]


def audit_actions(db, alert_id) -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "alert", AuditEvent.object_id == str(alert_id)).order_by(AuditEvent.id)).all()


def test_alert_json_has_the_lifecycle_fields(api, receiver, rule):
    [alert_id] = fire(api, receiver)
    body = api.get(f"/alerts/{alert_id}").get_json()
    assert (body["state"], body["resolved_at"], body["resolved_by"], body["acknowledged_note"]) == (
        "firing", None, None, None)
    assert [delivery["event"] for delivery in body["deliveries"]] == ["alert.fired"]


def test_resolving_by_hand_is_audited_sends_alert_resolved_and_a_second_time_is_409(api, db, receiver, hook,
                                                                                    rule):
    [alert_id] = fire(api, receiver)

    response = api.post(f"/alerts/{alert_id}/resolve")
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "resolved" and body["resolved_at"] and body["resolved_by"] == "owner@example.com"
    [_, resolved] = receiver.wait_for(2)
    payload = Webhook(hook["secret"]).verify(resolved.body, resolved.headers)
    assert payload["type"] == "alert.resolved" and payload["data"]["alert"]["state"] == "resolved"
    assert audit_actions(db, alert_id) == ["alert.resolve"]

    again = api.post(f"/alerts/{alert_id}/resolve")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"
    assert "resolved already" in again.get_json()["error"]["message"]
    assert pool.wait_idle(30)
    assert len(receiver.requests) == 2 and audit_actions(db, alert_id) == ["alert.resolve"]


def test_an_automatic_resolution_has_no_resolved_by(api, receiver, rule):
    [alert_id] = fire(api, receiver)
    api.post("/runs", json={"job": "nightly-report", "status": "succeeded"})
    body = api.get(f"/alerts/{alert_id}").get_json()
    assert (body["state"], body["resolved_by"]) == ("resolved", None) and body["resolved_at"]


def test_acknowledge_with_a_note_then_unacknowledge_both_audited(api, db, receiver, rule):
    [alert_id] = fire(api, receiver)

    acknowledged = api.post(f"/alerts/{alert_id}/acknowledge", json={"note": "disk full on db-01, on it"})
    assert acknowledged.status_code == 200
    body = acknowledged.get_json()
    assert body["acknowledged_by"] == "owner@example.com" and body["acknowledged_note"] == "disk full on db-01, on it"
    assert body["state"] == "firing"

    undone = api.post(f"/alerts/{alert_id}/unacknowledge")
    assert undone.status_code == 200
    body = undone.get_json()
    assert (body["acknowledged_at"], body["acknowledged_by"], body["acknowledged_note"]) == (None, None, None)
    assert audit_actions(db, alert_id) == ["alert.acknowledge", "alert.unacknowledge"]
    assert "disk full" in db.session.scalars(sa.select(AuditEvent.summary).where(
        AuditEvent.action == "alert.acknowledge")).one()


def test_acknowledge_without_a_body_still_works_and_a_long_note_is_refused(api, receiver, rule):
    [alert_id] = fire(api, receiver)
    too_long = api.post(f"/alerts/{alert_id}/acknowledge", json={"note": "x" * 501})
    assert too_long.status_code == 400
    assert set(too_long.get_json()["error"]["fields"]) == {"note"}
    assert api.post(f"/alerts/{alert_id}/acknowledge").get_json()["acknowledged_by"] == "owner@example.com"


def test_a_resolved_alert_cannot_be_acknowledged_or_unacknowledged(api, receiver, rule):
    [alert_id] = fire(api, receiver)
    api.post(f"/alerts/{alert_id}/resolve")
    for action in ("acknowledge", "unacknowledge"):
        response = api.post(f"/alerts/{alert_id}/{action}")
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"


def test_actions_on_another_workspaces_alert_are_404(api, other_api, receiver, rule):
    [alert_id] = fire(api, receiver)
    for action in ("resolve", "acknowledge", "unacknowledge"):
        assert other_api.post(f"/alerts/{alert_id}/{action}").status_code == 404


def three_states(api, receiver) -> dict[str, int]:
    """One alert per state: firing, acknowledged (still firing), resolved."""
    firing, acknowledged, resolved = fire(api, receiver, 3)
    api.post(f"/alerts/{acknowledged}/acknowledge")
    api.post(f"/alerts/{resolved}/resolve")
    receiver.wait_for(4)
    return {"firing": firing, "acknowledged": acknowledged, "resolved": resolved}


def test_state_filter_in_the_api(api, receiver, rule):
    ids = three_states(api, receiver)

    def listed(state):
        return sorted(item["id"] for item in api.get(f"/alerts?state={state}").get_json()["items"])

    assert listed("firing") == sorted([ids["firing"], ids["acknowledged"]])
    assert listed("acknowledged") == [ids["acknowledged"]]
    assert listed("resolved") == [ids["resolved"]]
    assert api.get("/alerts?state=resolved").get_json()["total"] == 1
    bad = api.get("/alerts?state=open")
    assert bad.status_code == 400 and set(bad.get_json()["error"]["fields"]) == {"state"}


def rows(html: str) -> list[int]:
    return [int(alert_id) for alert_id in re.findall(r'<tr data-alert-id="(\d+)">', html)]


def test_state_tabs_on_the_page_with_counts_and_unacknowledged_first(client, api, receiver, rule):
    ids = three_states(api, receiver)
    newer = fire(api, receiver)[0]  # newer than the acknowledged one, and not acknowledged

    html = client.get("/alerts?state=firing").get_data(as_text=True)
    assert rows(html) == [newer, ids["firing"], ids["acknowledged"]]
    counts = dict(re.findall(r'data-state-tab="(\w+)".*?<span class="count">(\d+)</span>', html, re.S))
    assert counts == {"all": "4", "firing": "3", "acknowledged": "1", "resolved": "1"}
    assert rows(client.get("/alerts?state=acknowledged").get_data(as_text=True)) == [ids["acknowledged"]]
    assert rows(client.get("/alerts?state=resolved").get_data(as_text=True)) == [ids["resolved"]]


def test_overview_counts_firing_alerts(client, api, receiver, rule):
    three_states(api, receiver)
    html = client.get("/overview").get_data(as_text=True)
    assert re.search(r'<span class="num">2</span> firing alerts', html)


def test_page_buttons_resolve_and_unacknowledge_with_a_note_field(client, api, db, receiver, rule):
    [alert_id] = fire(api, receiver)
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert 'name="note"' in page and ">Resolve</button>" in page

    client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "looking"})
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert "looking" in page and ">Unacknowledge</button>" in page
    response = client.post(f"/alerts/{alert_id}/resolve", follow_redirects=True)
    assert f"Alert #{alert_id} resolved." in response.get_data(as_text=True)
    alert = db.session.get(Alert, alert_id)
    db.session.refresh(alert)
    assert alert.state == "resolved" and alert.resolved_by_id is not None
    assert audit_actions(db, alert_id) == ["alert.acknowledge", "alert.resolve"]


def test_bulk_post_acknowledges_only_this_workspaces_alerts(client, api, other_api, db, receiver, rule):
    mine = fire(api, receiver, 2)
    response = client.post("/alerts/bulk", data={"action": "acknowledge", "alert_ids": [*map(str, mine), "999"]},
                           follow_redirects=True)
    assert "2 alerts acknowledged; 1 needed no change." in response.get_data(as_text=True)
    assert [item["acknowledged_by"] for item in api.get("/alerts").get_json()["items"]] == ["owner@example.com"] * 2
