"""A rule's notifications beyond the first: `notify_on_resolve` (default true) and
`repeat_interval_seconds` (null, or 10 s to 7 days) in the rules API and the rule form."""
import pytest

from webapp.models import Rule


@pytest.fixture
def endpoint_id(api):
    response = api.post("/endpoints", json={"name": "Ops hook", "url": "http://127.0.0.1:9/hook"})
    return response.get_json()["id"]


def create(api, endpoint_id, **fields):
    return api.post("/rules", json={"name": "Failures", "event": "run_failed", "endpoint_ids": [endpoint_id],
                                    **fields})


def test_defaults_notify_on_resolve_and_never_repeat(api, endpoint_id):
    body = create(api, endpoint_id).get_json()
    assert (body["notify_on_resolve"], body["repeat_interval_seconds"]) == (True, None)


@pytest.mark.parametrize("value", [10, 3600, 7 * 86400])
def test_repeat_interval_within_bounds_is_kept(api, endpoint_id, value):
    assert create(api, endpoint_id, repeat_interval_seconds=value).get_json()["repeat_interval_seconds"] == value


@pytest.mark.parametrize("value", [0, 9, 7 * 86400 + 1, "60", 12.5, True])
def test_repeat_interval_out_of_bounds_or_not_a_number_is_refused(api, endpoint_id, value):
    response = create(api, endpoint_id, repeat_interval_seconds=value)
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"repeat_interval_seconds"}


def test_notify_on_resolve_must_be_a_boolean(api, endpoint_id):
    response = create(api, endpoint_id, notify_on_resolve="no")
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"notify_on_resolve"}


def test_patch_changes_both_and_null_stops_repeats(api, endpoint_id):
    rule = create(api, endpoint_id, repeat_interval_seconds=60).get_json()
    changed = api.patch(f"/rules/{rule['id']}", json={"notify_on_resolve": False, "repeat_interval_seconds": None})
    assert changed.status_code == 200
    assert (changed.get_json()["notify_on_resolve"], changed.get_json()["repeat_interval_seconds"]) == (False, None)


def test_rule_form_saves_both_fields(client, api, db, endpoint_id):
    response = client.post("/settings/alerts/rules/new", data={
        "name": "Repeating", "event": "run_failed", "severity": "warning", "endpoint_ids": [str(endpoint_id)],
        "max_attempts": "8", "cooldown_seconds": "300", "repeat_interval_seconds": "600", "is_active": "y"})
    assert response.status_code == 302
    rule = db.session.query(Rule).filter_by(name="Repeating").one()
    assert (rule.notify_on_resolve, rule.repeat_interval_seconds) == (False, 600)  # the box was left unticked
    page = client.get(f"/settings/alerts/rules/{rule.id}/edit").get_data(as_text=True)
    assert 'name="repeat_interval_seconds"' in page and 'value="600"' in page

    refused = client.post("/settings/alerts/rules/new", data={
        "name": "Too often", "event": "run_failed", "endpoint_ids": [str(endpoint_id)],
        "repeat_interval_seconds": "5", "notify_on_resolve": "y"})
    assert refused.status_code == 200 and "The repeat interval must be between 10 and 604800." in \
        refused.get_data(as_text=True)
