"""/api/v1/endpoints (blueprints/api/endpoints.py): the endpoint life cycle as JSON, the secret shown only
where it must be, confirmation for rotation, 400s that name the bad fields, and 404 for every
id of another workspace."""
import base64

import pytest
import sqlalchemy as sa

from webapp.extensions import db as _db
from webapp.models import AuditEvent, Endpoint
from webapp.services import crypto

MASK = "••••••"
HEADER_VALUE = "Bearer api-header-7c21"


def new_endpoint(api, receiver, **fields):
    body = {"name": "Ops hook", "url": receiver.url(), **fields}
    response = api.post("/endpoints", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(endpoint_id) -> Endpoint:
    _db.session.expire_all()
    return _db.session.get(Endpoint, endpoint_id)


def audit_actions() -> list[str]:
    return list(_db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.startswith("endpoint."))
                                    .order_by(AuditEvent.id)))


@pytest.fixture
def created(api, receiver):
    return new_endpoint(api, receiver, headers={"Authorization": HEADER_VALUE, "X-Team": "ops"})


# --- list and create ---------------------------------------------------------------------------


def test_empty_list_has_items_and_next_cursor(api):
    response = api.get("/endpoints")
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_create_returns_201_with_every_field_and_the_secret_once(api, receiver):
    response = api.post("/endpoints", json={
        "name": "Pager", "url": receiver.url("/in"), "format": "slack", "timeout_seconds": 7,
        "headers": {"Authorization": HEADER_VALUE}})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/endpoints/{body['id']}")
    assert {key: body[key] for key in ("name", "url", "format", "timeout_seconds", "is_active", "template")} == {
        "name": "Pager", "url": receiver.url("/in"), "format": "slack", "timeout_seconds": 7,
        "is_active": True, "template": None}
    assert body["headers"] == {"Authorization": MASK}
    assert body["disabled_reason"] is None and body["created_at"] and body["updated_at"]
    assert body["secret"].startswith("whsec_")
    assert body["secret"] == crypto.decrypt(stored(body["id"]).secret_encrypted)


def test_create_defaults_to_json_and_ten_seconds(api, receiver):
    body = new_endpoint(api, receiver)
    assert (body["format"], body["timeout_seconds"], body["headers"]) == ("json", 10, {})


def test_an_endpoint_created_with_a_template_keeps_it(api, receiver):
    template = '{"text": {{ alert.message|tojson }}}'
    body = new_endpoint(api, receiver, format="template", template=template)
    assert (body["format"], body["template"]) == ("template", template)


def test_an_endpoint_created_disabled_says_why(api, receiver):
    body = new_endpoint(api, receiver, is_active=False)
    assert body["is_active"] is False and body["disabled_reason"]


def test_a_pasted_secret_is_kept(api, receiver):
    mine = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = new_endpoint(api, receiver, secret=mine)
    assert body["secret"] == mine
    assert api.get(f"/endpoints/{body['id']}/secret").get_json()["secret"] == mine


def test_the_secret_is_never_in_get_or_list(api, created):
    secret = created["secret"]
    single = api.get(f"/endpoints/{created['id']}")
    listing = api.get("/endpoints")
    for response in (single, listing):
        assert response.status_code == 200
        assert secret not in response.get_data(as_text=True)
        assert HEADER_VALUE not in response.get_data(as_text=True)
    assert "secret" not in single.get_json()
    assert all("secret" not in item for item in listing.get_json()["items"])


def test_header_values_are_masked_on_read(api, created):
    assert api.get(f"/endpoints/{created['id']}").get_json()["headers"] == {"Authorization": MASK, "X-Team": MASK}
    (item,) = api.get("/endpoints").get_json()["items"]
    assert item["headers"] == {"Authorization": MASK, "X-Team": MASK}


def test_list_pages_with_a_cursor(api, receiver):
    ids = [new_endpoint(api, receiver, name=f"Hook {number}")["id"] for number in range(3)]
    first = api.get("/endpoints?limit=2").get_json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert first["next_cursor"]
    second = api.get(f"/endpoints?limit=2&cursor={first['next_cursor']}").get_json()
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None


def test_a_bad_cursor_or_limit_is_a_400(api):
    assert api.get("/endpoints?cursor=abc").status_code == 400
    assert api.get("/endpoints?limit=0").status_code == 400


# --- read, update, delete ----------------------------------------------------------------------


def test_get_returns_the_endpoint_at_the_top_level(api, created):
    body = api.get(f"/endpoints/{created['id']}").get_json()
    assert body["id"] == created["id"] and body["name"] == "Ops hook"
    assert set(body) == {"id", "name", "url", "format", "template", "headers", "timeout_seconds", "is_active",
                         "disabled_reason", "health", "health_error", "created_at", "updated_at", "routing_key", "access_token",
                         "signature_scheme", "signature_header", "signature_header_prefix",
                         "retry_delays_seconds", "max_attempts", "history_limit"}


def test_patch_changes_only_the_given_fields(api, created, receiver):
    response = api.patch(f"/endpoints/{created['id']}", json={"name": "Renamed", "timeout_seconds": 30})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["timeout_seconds"], body["url"]) == ("Renamed", 30, receiver.url())
    assert "secret" not in body
    endpoint = stored(created["id"])
    assert crypto.decrypt(endpoint.headers_encrypted["Authorization"]) == HEADER_VALUE


def test_patch_with_masked_header_values_keeps_them(api, created):
    headers = api.get(f"/endpoints/{created['id']}").get_json()["headers"]
    headers["X-Team"] = "platform"
    assert api.patch(f"/endpoints/{created['id']}", json={"headers": headers}).status_code == 200
    endpoint = stored(created["id"])
    assert crypto.decrypt(endpoint.headers_encrypted["Authorization"]) == HEADER_VALUE
    assert crypto.decrypt(endpoint.headers_encrypted["X-Team"]) == "platform"


def test_patch_audits_changed_field_names_only(api, created):
    api.patch(f"/endpoints/{created['id']}", json={"headers": {"Authorization": "Bearer rotated-value"}})
    summary = _db.session.scalar(sa.select(AuditEvent.summary).where(AuditEvent.action == "endpoint.update"))
    assert "headers" in summary and "rotated-value" not in summary and HEADER_VALUE not in summary


def test_patch_is_active_disables_and_enables(api, created):
    body = api.patch(f"/endpoints/{created['id']}", json={"is_active": False}).get_json()
    assert body["is_active"] is False and body["disabled_reason"]
    body = api.patch(f"/endpoints/{created['id']}", json={"is_active": True}).get_json()
    assert body["is_active"] is True and body["disabled_reason"] is None
    assert audit_actions()[-2:] == ["endpoint.disable", "endpoint.enable"]


def test_a_refused_patch_changes_nothing(api, created):
    response = api.patch(f"/endpoints/{created['id']}", json={"name": "Renamed", "timeout_seconds": 301})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"timeout_seconds"}
    assert stored(created["id"]).name == "Ops hook"


def test_the_secret_cannot_be_set_by_patch(api, created):
    response = api.patch(f"/endpoints/{created['id']}", json={"secret": "whsec_" + base64.b64encode(b"z" * 32).decode()})
    assert response.status_code == 400
    assert "secret" in response.get_json()["error"]["fields"]


def test_delete_is_soft_and_the_endpoint_is_gone_from_the_api(api, created):
    assert api.delete(f"/endpoints/{created['id']}").status_code == 204
    assert api.get(f"/endpoints/{created['id']}").status_code == 404
    assert api.get("/endpoints").get_json()["items"] == []
    assert api.delete(f"/endpoints/{created['id']}").status_code == 404
    assert stored(created["id"]).deleted_at is not None


# --- secret ------------------------------------------------------------------------------------


def test_get_secret_returns_it_and_is_audited(api, created):
    response = api.get(f"/endpoints/{created['id']}/secret")
    assert response.status_code == 200
    assert response.get_json() == {"id": created["id"], "secret": created["secret"]}
    assert response.headers["Cache-Control"] == "no-store"
    assert audit_actions() == ["endpoint.create", "endpoint.reveal_secret"]


def test_get_secret_with_a_key_that_is_gone_is_409_with_the_reason(api, created):
    from cryptography.fernet import Fernet

    endpoint = _db.session.get(Endpoint, created["id"])
    endpoint.secret_encrypted = Fernet(Fernet.generate_key()).encrypt(b"whsec_c2VjcmV0").decode()
    _db.session.commit()
    response = api.get(f"/endpoints/{created['id']}/secret")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "secret_unreadable" and "TOCSIN_ENCRYPTION_KEY" in error["message"]
    assert audit_actions() == ["endpoint.create"]


def test_rotate_without_confirmation_is_428_and_changes_nothing(api, created):
    for headers in (None, {"X-Confirm-Destructive": "false"}, {"X-Confirm-Destructive": "yes"}):
        response = api.post(f"/endpoints/{created['id']}/secret/rotate", headers=headers)
        assert response.status_code == 428
        assert response.get_json()["error"]["code"] == "confirmation_required"
    assert api.get(f"/endpoints/{created['id']}/secret").get_json()["secret"] == created["secret"]
    assert "endpoint.rotate_secret" not in audit_actions()


def test_confirmed_rotate_returns_a_new_secret(api, created):
    response = api.post(f"/endpoints/{created['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secret_valid_until"]
    assert api.get(f"/endpoints/{created['id']}/secret").get_json()["secret"] == body["secret"]
    assert "endpoint.rotate_secret" in audit_actions()


# --- validation --------------------------------------------------------------------------------


BAD_INPUT = [
    ({"colour": "red"}, "colour"),
    ({"id": 5}, "id"),
    ({"url": "ftp://127.0.0.1/hook"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://user:pw@127.0.0.1/hook"}, "url"),
    ({"url": "http://127.0.0.1/" + "a" * 2048}, "url"),
    ({"url": 42}, "url"),
    ({"url": ""}, "url"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"headers": {"Host": "evil.example"}}, "headers"),
    ({"headers": {"Content-Length": "1"}}, "headers"),
    ({"headers": {"webhook-signature": "v1,forged"}}, "headers"),
    ({"headers": {"Bad Name": "x"}}, "headers"),
    ({"headers": {"X-Split": "a\r\nInjected: yes"}}, "headers"),
    ({"headers": {"X-Number": 5}}, "headers"),
    ({"headers": ["Authorization: x"]}, "headers"),
    ({"format": "xml"}, "format"),
    ({"format": ["json"]}, "format"),  # a list or an object was a 500 (found by schemathesis)
    ({"format": {"name": "json"}}, "format"),
    ({"format": "template"}, "template"),
    ({"format": "template", "template": "{{ unclosed"}, "template"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": 301}, "timeout_seconds"),
    ({"timeout_seconds": "ten"}, "timeout_seconds"),
    ({"timeout_seconds": True}, "timeout_seconds"),
    ({"timeout_seconds": 2.5}, "timeout_seconds"),
    ({"secret": "whsec_" + base64.b64encode(b"s" * 16).decode()}, "secret"),
    ({"secret": "plain-password"}, "secret"),
    ({"is_active": "yes"}, "is_active"),
]


def test_bad_input_is_a_400_naming_the_field(api, receiver):
    """One app for the whole table (each case is independent: nothing is ever saved)."""
    for fields, bad in BAD_INPUT:
        response = api.post("/endpoints", json={"name": "Ops hook", "url": receiver.url(), **fields})
        assert response.status_code == 400, (fields, response.get_json())
        error = response.get_json()["error"]
        assert bad in error["fields"], (fields, error)
        assert error["message"]
    assert api.get("/endpoints").get_json()["items"] == []
    assert audit_actions() == []


def test_bad_patches_are_400s_naming_the_field_and_change_nothing(api, created):
    before = api.get(f"/endpoints/{created['id']}").get_json()
    for fields, bad in BAD_INPUT:
        response = api.patch(f"/endpoints/{created['id']}", json=fields)
        assert response.status_code == 400, (fields, response.get_json())
        assert bad in response.get_json()["error"]["fields"], fields
    assert api.get(f"/endpoints/{created['id']}").get_json() == before
    assert audit_actions() == ["endpoint.create"]


def test_reserved_header_error_names_the_header(api, receiver):
    response = api.post("/endpoints", json={"name": "x", "url": receiver.url(), "headers": {"Host": "a"}})
    assert response.get_json()["error"]["fields"]["headers"] == "header name Host is reserved"


def test_several_bad_fields_are_all_reported(api):
    response = api.post("/endpoints", json={"name": "", "url": "gopher://x", "format": "xml", "timeout_seconds": 0})
    assert set(response.get_json()["error"]["fields"]) >= {"name", "url", "format", "timeout_seconds"}


def test_a_body_that_is_not_a_json_object_is_a_400(api):
    assert api.post("/endpoints", json=["name"]).status_code == 400
    assert api.post("/endpoints", data="{", headers={"Content-Type": "application/json"}).status_code == 400


def test_requests_without_an_api_key_are_401(client):
    assert client.get("/api/v1/endpoints").status_code == 401
    assert client.post("/api/v1/endpoints", json={"name": "x"}).status_code == 401


# --- other workspaces --------------------------------------------------------------------------


def test_another_workspace_gets_404_for_every_method(api, other_api, created, receiver):
    endpoint_id = created["id"]
    confirm = {"X-Confirm-Destructive": "true"}
    responses = {
        "GET": other_api.get(f"/endpoints/{endpoint_id}"),
        "PATCH": other_api.patch(f"/endpoints/{endpoint_id}", json={"name": "Mine now"}),
        "DELETE": other_api.delete(f"/endpoints/{endpoint_id}"),
        "POST test": other_api.post(f"/endpoints/{endpoint_id}/test"),
        "GET secret": other_api.get(f"/endpoints/{endpoint_id}/secret"),
        "POST rotate": other_api.post(f"/endpoints/{endpoint_id}/secret/rotate", headers=confirm),
    }
    for name, response in responses.items():
        assert response.status_code == 404, name
        assert response.get_json()["error"]["code"] == "not_found", name
        assert created["secret"] not in response.get_data(as_text=True)
    assert other_api.get("/endpoints").get_json()["items"] == []
    endpoint = stored(endpoint_id)
    assert endpoint.name == "Ops hook" and endpoint.deleted_at is None
    assert crypto.decrypt(endpoint.secret_encrypted) == created["secret"]
    assert receiver.requests == []
    assert audit_actions() == ["endpoint.create"]


def test_a_deleted_or_unknown_id_is_404(api, created):
    assert api.get("/endpoints/999999").status_code == 404
    assert api.get("/endpoints/not-a-number").status_code == 404
    api.delete(f"/endpoints/{created['id']}")
    for response in (api.get(f"/endpoints/{created['id']}/secret"),
                     api.patch(f"/endpoints/{created['id']}", json={"name": "back"}),
                     api.post(f"/endpoints/{created['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"})):
        assert response.status_code == 404


def test_the_api_test_send_returns_the_outcome(api, created, receiver):
    response = api.post(f"/endpoints/{created['id']}/test")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["http_status"], body["outcome"], body["status"]) == (200, "success", "delivered")
    assert isinstance(body["duration_ms"], int) and body["delivery_id"]
    assert len(receiver.wait_for(1)) == 1
