"""Endpoint health is exactly one of new, healthy, failing (with the last error) or disabled (with
the reason), the same on the list, the detail page and in the API; a test send counts (a failing
test send to a never-used endpoint is `failing` with the test's error, never "healthy")."""
import html
import re

from webapp.extensions import db
from webapp.models import Endpoint


def make_endpoint(api, url, name="Ops hook") -> int:
    response = api.post("/endpoints", json={"name": name, "url": url})
    assert response.status_code == 201, response.json
    return response.json["id"]


def badge_on_list(client, endpoint_id) -> tuple[str, str]:
    page = html.unescape(client.get("/settings/alerts/endpoints").get_data(as_text=True))
    row = re.search(rf'<tr data-endpoint-id="{endpoint_id}">(.*?)</tr>', page, re.S).group(1)
    return re.search(r'data-health="(\w+)"', row).group(1), row


def badge_on_detail(client, endpoint_id) -> tuple[str, str]:
    page = html.unescape(client.get(f"/settings/alerts/endpoints/{endpoint_id}").get_data(as_text=True))
    return re.search(r'data-health="(\w+)"', page).group(1), page


def health_in_api(api, endpoint_id) -> dict:
    return api.get(f"/endpoints/{endpoint_id}").json


def test_endpoint_that_never_sent_anything_is_new_not_healthy(api, client):
    endpoint_id = make_endpoint(api, "http://127.0.0.1:9/hook")

    assert badge_on_list(client, endpoint_id)[0] == "new"
    state, page = badge_on_detail(client, endpoint_id)
    assert state == "new" and "nothing sent yet" in page
    body = health_in_api(api, endpoint_id)
    assert body["health"] == "new" and body["health_error"] is None
    listed = api.get("/endpoints").json["items"]
    assert [item["health"] for item in listed] == ["new"]


def test_endpoint_whose_test_send_got_http_500_is_failing_with_the_error(api, client, receiver):
    endpoint_id = make_endpoint(api, receiver.url())
    receiver.respond(500, body=b"boom")
    client.post(f"/settings/alerts/endpoints/{endpoint_id}/test")

    state, row = badge_on_list(client, endpoint_id)
    assert state == "failing" and "500" in row and "test send" in row
    assert "Test failed" in row and ">dead<" not in row.lower() and "pending" not in row
    state, page = badge_on_detail(client, endpoint_id)
    assert state == "failing" and "500" in page
    body = health_in_api(api, endpoint_id)
    assert body["health"] == "failing" and "500" in body["health_error"]


def test_test_send_that_succeeds_makes_the_endpoint_healthy_again(api, client, receiver):
    endpoint_id = make_endpoint(api, receiver.url())
    receiver.respond(500)
    client.post(f"/settings/alerts/endpoints/{endpoint_id}/test")
    receiver.respond(200)
    client.post(f"/settings/alerts/endpoints/{endpoint_id}/test")

    assert badge_on_list(client, endpoint_id)[0] == "healthy"
    assert health_in_api(api, endpoint_id)["health"] == "healthy"


def test_disabled_endpoint_shows_disabled_with_its_reason(api, client):
    endpoint_id = make_endpoint(api, "http://127.0.0.1:9/hook")
    endpoint = db.session.get(Endpoint, endpoint_id)
    endpoint.is_active, endpoint.disabled_reason = False, "The receiver answered 410 Gone."
    db.session.commit()

    state, row = badge_on_list(client, endpoint_id)
    assert state == "disabled" and "The receiver answered 410 Gone." in row
    state, page = badge_on_detail(client, endpoint_id)
    assert state == "disabled" and "410 Gone" in page
    body = health_in_api(api, endpoint_id)
    assert body["health"] == "disabled" and body["disabled_reason"] == "The receiver answered 410 Gone."
