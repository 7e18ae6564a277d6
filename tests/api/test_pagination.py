"""Every JSON list pages the same way (webapp/blueprints/api/pagination.py): `next_cursor` walks
every row once, newest first, and a cursor the API never gave out gets the same 400 everywhere."""
import pytest

from tests.support.factories import saved_alert, saved_deliveries, saved_endpoint, saved_rule, workspace_id_of
from webapp.services.delivery import pool

LISTS = ("/runs", "/jobs", "/endpoints", "/rules", "/deliveries", "/alerts")
ROWS_PER_LIST = 3


@pytest.fixture(autouse=True)
def sends_finish_before_teardown():
    yield
    pool.wait_idle()


@pytest.fixture
def filled(api):
    """Three rows in every list of the owner's workspace."""
    for number in range(ROWS_PER_LIST):
        assert api.post("/runs", json={"job": f"job-{number}"}).status_code == 201
    workspace_id = workspace_id_of()
    endpoints = [saved_endpoint(workspace_id, name=f"Hook {number}") for number in range(ROWS_PER_LIST)]
    for number in range(ROWS_PER_LIST):
        saved_rule(workspace_id, name=f"Rule {number}")
        saved_alert(workspace_id, message=f"Alert {number}")
    saved_deliveries(endpoints[0], ROWS_PER_LIST)
    return api


def walk(api, path: str, limit: int) -> list[int]:
    """The ids of every page of `path`, following next_cursor to the end."""
    seen, cursor = [], None
    while True:
        response = api.get(f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        assert isinstance(cursor, str) and len(body["items"]) == limit


@pytest.mark.parametrize("path", LISTS)
def test_next_cursor_walks_every_row_once_newest_first(filled, path):
    everything = walk(filled, path, 200)
    assert len(everything) == ROWS_PER_LIST
    assert everything == sorted(everything, reverse=True)
    assert walk(filled, path, 2) == everything
    assert walk(filled, path, 1) == everything


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "%C2%B2", "9" * 30, "9223372036854775808"])
def test_a_cursor_the_api_never_gave_out_is_the_same_400_on_every_list(api, cursor):
    errors = []
    for path in LISTS:
        response = api.get(f"{path}?cursor={cursor}")
        assert response.status_code == 400, path
        errors.append(response.get_json())
    assert errors[0]["error"]["code"] == "invalid_filter" and "cursor" in errors[0]["error"]["fields"]
    assert all(error == errors[0] for error in errors)


def test_alerts_page_by_offset_and_by_cursor_alike(filled):
    by_offset = filled.get("/alerts?limit=2").get_json()
    assert (by_offset["total"], by_offset["next_offset"]) == (ROWS_PER_LIST, 2)
    by_cursor = filled.get(f"/alerts?limit=2&cursor={by_offset['next_cursor']}").get_json()
    assert by_cursor["items"] == filled.get("/alerts?limit=2&offset=2").get_json()["items"]
    assert (by_cursor["total"], by_cursor["next_offset"], by_cursor["next_cursor"]) == (ROWS_PER_LIST, None, None)
    mixed = filled.get(f"/alerts?offset=1&cursor={by_offset['next_cursor']}")
    assert mixed.status_code == 400 and mixed.get_json()["error"]["code"] == "invalid_filter"
