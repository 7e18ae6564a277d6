"""An endpoint's retry policy, attempt budget, timeout and history limit (issue 16, points 3
and 5) through the JSON API and the settings pages: the same service checks, 400s and form
errors that name the field, and the policy shown in plain words."""
import pytest

from tests.endpoints.test_pages import ENDPOINTS, create_via_form, endpoint_named, text_of
from webapp.extensions import db as _db
from webapp.models import Endpoint

POLICY = ("retry_delays_seconds", "max_attempts", "history_limit", "timeout_seconds")


def create(api, receiver, **fields):
    return api.post("/endpoints", json={"name": "Ops hook", "url": receiver.url(), **fields})


def stored(endpoint_id) -> Endpoint:
    _db.session.expire_all()
    return _db.session.get(Endpoint, endpoint_id)


# --- API -----------------------------------------------------------------------------------------


def test_defaults_are_the_default_schedule_eight_attempts_ten_seconds_and_no_history_limit(api, receiver):
    body = create(api, receiver).get_json()
    assert {name: body[name] for name in POLICY} == {
        "retry_delays_seconds": None, "max_attempts": 8, "history_limit": None, "timeout_seconds": 10}


def test_a_quick_policy_a_budget_a_long_timeout_and_a_history_limit_are_saved_and_read_back(api, receiver):
    wanted = {"retry_delays_seconds": [1, 2, 4], "max_attempts": 3, "history_limit": 500, "timeout_seconds": 300}
    body = create(api, receiver, **wanted).get_json()
    assert {name: body[name] for name in POLICY} == wanted
    body.pop("secret")
    assert api.get(f"/endpoints/{body['id']}").get_json() == body
    endpoint = stored(body["id"])
    assert (endpoint.retry_delays_seconds, endpoint.max_attempts, endpoint.timeout_seconds) == ([1, 2, 4], 3, 300)


def test_patch_changes_the_policy_and_null_restores_the_defaults(api, receiver):
    created = create(api, receiver, retry_delays_seconds=[5, 60], history_limit=10).get_json()
    body = api.patch(f"/endpoints/{created['id']}", json={"retry_delays_seconds": None, "history_limit": None,
                                                          "max_attempts": 20}).get_json()
    assert (body["retry_delays_seconds"], body["history_limit"], body["max_attempts"]) == (None, None, 20)
    assert stored(created["id"]).retry_delays_seconds is None


def test_the_limits_that_are_allowed(api, receiver):
    body = create(api, receiver, retry_delays_seconds=[86_400] * 20, max_attempts=1, history_limit=1,
                  timeout_seconds=1).get_json()
    assert (len(body["retry_delays_seconds"]), body["max_attempts"], body["history_limit"]) == (20, 1, 1)


BAD_POLICY = [
    ({"retry_delays_seconds": [0, 2]}, "retry_delays_seconds", "each delay must be 1–86,400 seconds"),
    ({"retry_delays_seconds": [1, 86_401]}, "retry_delays_seconds", "each delay must be 1–86,400 seconds"),
    ({"retry_delays_seconds": [1.5]}, "retry_delays_seconds", "each delay must be 1–86,400 seconds"),
    ({"retry_delays_seconds": [True]}, "retry_delays_seconds", "each delay must be 1–86,400 seconds"),
    ({"retry_delays_seconds": []}, "retry_delays_seconds", "give 1–20 delays"),
    ({"retry_delays_seconds": [1] * 21}, "retry_delays_seconds", "give 1–20 delays"),
    ({"retry_delays_seconds": "1, 2, 4"}, "retry_delays_seconds", None),
    ({"max_attempts": 0}, "max_attempts", "the attempt budget must be a whole number from 1 to 20"),
    ({"max_attempts": 21}, "max_attempts", None),
    ({"max_attempts": None}, "max_attempts", None),
    ({"max_attempts": 2.5}, "max_attempts", None),
    ({"history_limit": 0}, "history_limit", None),
    ({"history_limit": "many"}, "history_limit", None),
    ({"timeout_seconds": 301}, "timeout_seconds", "The timeout must be between 1 and 300 seconds."),
]


@pytest.mark.parametrize("fields, bad, message", BAD_POLICY)
def test_bad_policy_values_are_a_400_naming_the_field(api, receiver, fields, bad, message):
    response = create(api, receiver, **fields)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and set(error["fields"]) == {bad}
    if message:
        assert error["fields"][bad] == message
        assert f"{bad}: {message}" in error["message"]
    assert api.get("/endpoints").get_json()["items"] == []


def test_a_bad_policy_patch_changes_nothing(api, receiver):
    created = create(api, receiver, retry_delays_seconds=[1, 2, 4]).get_json()
    response = api.patch(f"/endpoints/{created['id']}", json={"retry_delays_seconds": [0], "max_attempts": 3})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"retry_delays_seconds"}
    assert (stored(created["id"]).retry_delays_seconds, stored(created["id"]).max_attempts) == ([1, 2, 4], 8)


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


def test_the_quick_preset_from_the_form_is_saved_and_described_on_the_page(client, owner, receiver):
    page = create_via_form(client, receiver.url(), retry_policy="quick", max_attempts="4", history_limit="200",
                           timeout_seconds="120")
    endpoint = endpoint_named()
    assert (endpoint.retry_delays_seconds, endpoint.max_attempts, endpoint.history_limit) == ([1, 2, 4], 4, 200)
    assert endpoint.timeout_seconds == 120
    html = text_of(page)
    assert "Quick: waits 1 s, 2 s, 4 s, then every 4 s" in html and "up to 4 attempts" in html
    assert "The newest 200 finished deliveries are kept" in html


def test_a_custom_list_is_parsed_and_shown_again_on_the_edit_page(client, owner, receiver):
    create_via_form(client, receiver.url(), retry_policy="custom", retry_delays_seconds="5, 30 120")
    endpoint = endpoint_named()
    assert endpoint.retry_delays_seconds == [5, 30, 120]
    edit = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/edit"))
    assert 'value="5, 30, 120"' in edit and '<option selected value="custom">' in edit
    detail = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))
    assert "Custom: waits 5 s, 30 s, 2 min, then every 2 min" in detail


def test_the_default_policy_and_no_history_limit_in_plain_words(client, owner, receiver):
    html = text_of(create_via_form(client, receiver.url(), retry_policy="default", max_attempts="8",
                                   history_limit=""))
    endpoint = endpoint_named()
    assert (endpoint.retry_delays_seconds, endpoint.history_limit) == (None, None)
    assert "Default: waits 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, then every 6 h" in html
    assert "Finished deliveries are kept 30 days." in html


def test_switching_an_edited_endpoint_back_to_the_default_schedule(client, owner, receiver):
    create_via_form(client, receiver.url(), retry_policy="quick")
    endpoint = endpoint_named()
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data={
        "name": "Ops hook", "url": receiver.url(), "format": "json", "timeout_seconds": "5", "headers": "",
        "retry_policy": "default", "retry_delays_seconds": "1, 2, 4", "max_attempts": "8", "history_limit": ""})
    assert response.status_code == 302
    assert endpoint_named().retry_delays_seconds is None


@pytest.mark.parametrize("fields, message", [
    ({"retry_policy": "custom", "retry_delays_seconds": "1, 0, 4"}, "each delay must be 1–86,400 seconds"),
    ({"retry_policy": "custom", "retry_delays_seconds": "1, two"}, "each delay must be 1–86,400 seconds"),
    ({"retry_policy": "custom", "retry_delays_seconds": ""}, "list the delays in seconds"),
    ({"max_attempts": "0"}, "the attempt budget must be a whole number from 1 to 20"),
    ({"max_attempts": ""}, "the attempt budget must be a whole number from 1 to 20"),
    ({"history_limit": "0"}, "the history limit must be a whole number"),
    ({"timeout_seconds": "301"}, "Number must be between 1 and 300."),
])
def test_bad_policy_values_are_form_errors_on_the_field(client, owner, receiver, fields, message):
    response = create_via_form(client, receiver.url(), **fields)
    assert response.status_code == 200
    assert message in text_of(response)
    assert endpoint_named() is None
