"""/api/v1/rules: the rule life cycle as JSON, with the same validation and audit as the pages,
and no way to see, change or borrow another workspace's rules or endpoints."""
import pytest
import sqlalchemy as sa

from tests.support.factories import endpoint_id_via_api
from webapp.models import AuditEvent, Rule

DOCUMENTED_FIELDS = {"id", "name", "event", "job_filter", "threshold_seconds", "consecutive_count", "severity",
                     "endpoint_ids", "max_attempts", "cooldown_seconds", "notify_on_resolve",
                     "repeat_interval_seconds", "is_active"}
TIMESTAMPS = {"created_at", "updated_at"}


def create(api, **fields):
    return api.post("/rules", json={"name": "Nightly failures", "event": "run_failed", **fields})


@pytest.fixture
def endpoint_id(api):
    return endpoint_id_via_api(api)


def error_fields(response) -> dict:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()["error"]
    assert body["code"] == "validation_error"
    return body["fields"]


def test_create_returns_the_documented_fields_with_defaults(api, endpoint_id):
    response = create(api, endpoint_ids=[endpoint_id])
    assert response.status_code == 201
    body = response.get_json()
    # The documented fields, plus the two timestamps every API object carries.
    assert set(body) == DOCUMENTED_FIELDS | TIMESTAMPS
    assert body == {**body, "name": "Nightly failures", "event": "run_failed", "job_filter": None,
                    "threshold_seconds": None, "consecutive_count": None, "severity": "warning",
                    "endpoint_ids": [endpoint_id], "max_attempts": None, "cooldown_seconds": 300, "is_active": True}


def test_create_with_every_field_and_read_it_back(api, endpoint_id):
    second = endpoint_id_via_api(api, "Chat")
    body = create(api, name="Billing slow", event="run_slow", job_filter="billing-*", threshold_seconds=90,
                  severity="critical", endpoint_ids=[endpoint_id, second], max_attempts=3,
                  cooldown_seconds=0, is_active=False).get_json()
    fetched = api.get(f"/rules/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert {key: body[key] for key in DOCUMENTED_FIELDS - {"id"}} == {
        "name": "Billing slow", "event": "run_slow", "job_filter": "billing-*", "threshold_seconds": 90,
        "consecutive_count": None, "severity": "critical", "endpoint_ids": [endpoint_id, second],
        "max_attempts": 3, "cooldown_seconds": 0, "notify_on_resolve": True, "repeat_interval_seconds": None,
        "is_active": False}


def test_consecutive_failures_defaults_to_three_and_a_parameter_the_event_ignores_is_cleared(api, endpoint_id):
    streak = create(api, event="consecutive_failures", endpoint_ids=[endpoint_id]).get_json()
    assert streak["consecutive_count"] == 3 and streak["threshold_seconds"] is None
    failed = create(api, event="run_failed", threshold_seconds=60, consecutive_count=5,
                    endpoint_ids=[endpoint_id]).get_json()
    assert failed["threshold_seconds"] is None and failed["consecutive_count"] is None


def test_list_is_newest_first_with_a_cursor(api, endpoint_id):
    ids = [create(api, name=f"rule {number}", endpoint_ids=[endpoint_id]).get_json()["id"] for number in range(3)]
    first = api.get("/rules?limit=2").get_json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert set(first["items"][0]) == DOCUMENTED_FIELDS | TIMESTAMPS
    second = api.get(f"/rules?limit=2&cursor={first['next_cursor']}").get_json()
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    assert api.get("/rules?cursor=abc").status_code == 400


@pytest.mark.parametrize(("fields", "bad"), [
    ({"event": "run_slow"}, "threshold_seconds"),
    ({"event": "run_slow", "threshold_seconds": 0}, "threshold_seconds"),
    ({"event": "run_slow", "threshold_seconds": "60"}, "threshold_seconds"),
    ({"event": "consecutive_failures", "consecutive_count": 1}, "consecutive_count"),
    ({"event": "consecutive_failures", "consecutive_count": 101}, "consecutive_count"),
    ({"event": "run_exploded"}, "event"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 21}, "max_attempts"),
    ({"max_attempts": 2.5}, "max_attempts"),
    ({"cooldown_seconds": -1}, "cooldown_seconds"),
    ({"cooldown_seconds": True}, "cooldown_seconds"),
    ({"job_filter": "billing/*"}, "job_filter"),
    ({"job_filter": 7}, "job_filter"),
    ({"is_active": "yes"}, "is_active"),
    ({"endpoint_ids": []}, "endpoint_ids"),
    ({"endpoint_ids": "1"}, "endpoint_ids"),
    ({"endpoint_ids": [999_999]}, "endpoint_ids"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_rules_are_refused_with_the_field_and_nothing_is_stored(api, db, endpoint_id, fields, bad):
    body = {"endpoint_ids": [endpoint_id], **fields}
    assert bad in error_fields(create(api, **body))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rule)) == 0


def test_every_bad_field_is_reported_at_once(api):
    fields = error_fields(create(api, name="", event="run_slow", max_attempts=99, cooldown_seconds=-5))
    assert {"name", "threshold_seconds", "endpoint_ids", "max_attempts", "cooldown_seconds"} <= set(fields)
    assert fields["threshold_seconds"] == "A slow-run rule needs a threshold in seconds."


def test_boundaries_that_are_allowed(api, endpoint_id):
    low = create(api, endpoint_ids=[endpoint_id], max_attempts=1, cooldown_seconds=0,
                 event="consecutive_failures", consecutive_count=2)
    high = create(api, endpoint_ids=[endpoint_id], max_attempts=20, event="run_slow", threshold_seconds=1)
    assert low.status_code == high.status_code == 201


def test_foreign_endpoint_ids_are_refused_as_unknown(api, other_api, db, endpoint_id):
    foreign = endpoint_id_via_api(other_api, "Their hook")
    fields = error_fields(create(api, endpoint_ids=[endpoint_id, foreign]))
    assert fields["endpoint_ids"] == f"Unknown endpoint: {foreign}."
    rule_id = create(api, endpoint_ids=[endpoint_id]).get_json()["id"]
    assert "endpoint_ids" in error_fields(api.patch(f"/rules/{rule_id}", json={"endpoint_ids": [foreign]}))
    assert db.session.get(Rule, rule_id).endpoints[0].id == endpoint_id


def test_deleted_endpoints_are_refused_and_dropped_from_the_rule(api, endpoint_id):
    spare = endpoint_id_via_api(api, "Spare")
    rule = create(api, endpoint_ids=[endpoint_id, spare]).get_json()
    assert api.delete(f"/endpoints/{spare}").status_code == 204
    assert api.get(f"/rules/{rule['id']}").get_json()["endpoint_ids"] == [endpoint_id]
    assert "endpoint_ids" in error_fields(create(api, endpoint_ids=[spare]))


def test_patch_changes_only_what_is_sent_and_validates_the_merged_rule(api, endpoint_id):
    rule = create(api, endpoint_ids=[endpoint_id], job_filter="nightly-*").get_json()
    changed = api.patch(f"/rules/{rule['id']}", json={"severity": "critical", "is_active": False})
    assert changed.status_code == 200
    assert changed.get_json() == {**rule, "severity": "critical", "is_active": False,
                                  "updated_at": changed.get_json()["updated_at"]}

    # Switching to run_slow without a threshold fails as a whole; nothing changes.
    assert "threshold_seconds" in error_fields(api.patch(f"/rules/{rule['id']}", json={"event": "run_slow"}))
    assert api.get(f"/rules/{rule['id']}").get_json()["event"] == "run_failed"
    slow = api.patch(f"/rules/{rule['id']}", json={"event": "run_slow", "threshold_seconds": 120}).get_json()
    assert (slow["event"], slow["threshold_seconds"]) == ("run_slow", 120)
    back = api.patch(f"/rules/{rule['id']}", json={"event": "run_failed"}).get_json()
    assert back["threshold_seconds"] is None
    # "all jobs" is null, and "*" says the same.
    assert api.patch(f"/rules/{rule['id']}", json={"job_filter": "*"}).get_json()["job_filter"] is None


def test_patch_refuses_unknown_fields_and_non_json(api, endpoint_id):
    rule_id = create(api, endpoint_ids=[endpoint_id]).get_json()["id"]
    assert "id" in error_fields(api.patch(f"/rules/{rule_id}", json={"id": 5}))
    response = api.patch(f"/rules/{rule_id}", data="name=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_delete_removes_the_rule(api, endpoint_id):
    rule_id = create(api, endpoint_ids=[endpoint_id]).get_json()["id"]
    assert api.delete(f"/rules/{rule_id}").status_code == 204
    assert api.get(f"/rules/{rule_id}").status_code == 404
    assert api.delete(f"/rules/{rule_id}").status_code == 404


def test_changes_through_the_api_are_audited(api, db, endpoint_id):
    rule_id = create(api, endpoint_ids=[endpoint_id]).get_json()["id"]
    api.patch(f"/rules/{rule_id}", json={"name": "Renamed"})
    api.patch(f"/rules/{rule_id}", json={"name": "Renamed"})  # no change, no event
    api.delete(f"/rules/{rule_id}")
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "rule")
                                .order_by(AuditEvent.id)).all()
    assert [event.action for event in events] == ["rule.create", "rule.update", "rule.delete"]
    assert all(event.object_id == str(rule_id) and event.user_id is not None for event in events)
    assert "name" in events[1].summary


def test_another_workspaces_rule_is_404_for_every_verb(api, other_api, db):
    theirs = create(other_api, endpoint_ids=[endpoint_id_via_api(other_api)]).get_json()
    path = f"/rules/{theirs['id']}"
    assert api.get(path).status_code == 404
    assert api.patch(path, json={"name": "mine now"}).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get("/rules").get_json()["items"] == []
    assert other_api.get(path).get_json()["name"] == "Nightly failures"
    assert api.get("/rules/not-a-number").status_code == 404


def test_rules_need_an_api_key(client):
    response = client.get("/api/v1/rules")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_max_attempts_may_be_null_and_set_back_to_null(api, endpoint_id):
    created = create(api, endpoint_ids=[endpoint_id], max_attempts=4).get_json()
    assert created["max_attempts"] == 4
    cleared = api.patch(f"/rules/{created['id']}", json={"max_attempts": None}).get_json()
    assert cleared["max_attempts"] is None
    assert create(api, endpoint_ids=[endpoint_id], max_attempts=None).get_json()["max_attempts"] is None
