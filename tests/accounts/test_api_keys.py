"""API keys: created on the settings page, shown once, stored hashed, used as Bearer tokens, revoked."""
import hashlib

import pytest
import sqlalchemy as sa

from tests.support.accounts import create_api_key_via_page, session_cookie_text, shown_api_key


def raw_api_key_rows(db):
    """The api_key table as stored, bypassing the model."""
    return db.session.execute(sa.text("SELECT * FROM api_key ORDER BY id")).mappings().all()


def test_the_key_waits_for_its_page_encrypted_in_the_session_cookie(app, auth, client):
    """The key travels to the page that shows it in the session cookie, which is signed but
    readable: it must not be there in clear."""
    auth.signup()

    client.post("/settings/api-keys", data={"name": "nightly cron"})
    cookie = session_cookie_text(app, client)
    key = shown_api_key(client.get("/settings/api-keys").get_data(as_text=True))

    assert key not in cookie and key.split("_", 1)[1][:12] not in cookie


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_api_key_life_cycle_create_use_revoke(auth, client, db):
    auth.signup()

    created = client.post("/settings/api-keys", data={"name": "nightly cron"}, follow_redirects=True)
    html = created.get_data(as_text=True)
    key = shown_api_key(html)
    assert "Copy it now" in html

    reloaded = client.get("/settings/api-keys").get_data(as_text=True)
    assert key not in reloaded
    assert "nightly cron" in reloaded

    row = raw_api_key_rows(db)[0]
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(row["prefix"]) and len(row["prefix"]) < len(key) // 2
    assert all(key not in str(value) for value in row.values())
    assert row["last_used_at"] is None

    me = client.get("/api/v1/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.json["workspace"]["name"] == "owner's workspace"
    assert isinstance(me.json["workspace"]["id"], int)
    assert raw_api_key_rows(db)[0]["last_used_at"] is not None

    revoked = client.post(f"/settings/api-keys/{row['id']}/revoke", follow_redirects=True)
    assert "revoked" in revoked.get_data(as_text=True)
    assert raw_api_key_rows(db)[0]["revoked_at"] is not None

    refused = client.get("/api/v1/me", headers=bearer(key))
    assert refused.status_code == 401
    assert refused.json == {"error": {"code": "unauthorized", "message": "Unknown or revoked API key."}}


def test_api_keys_page_lists_name_prefix_creator_and_last_use(auth, client):
    auth.signup()
    key = create_api_key_via_page(client, "backup job")
    client.get("/api/v1/me", headers=bearer(key))

    html = client.get("/settings/api-keys").get_data(as_text=True)

    assert "backup job" in html
    assert f"<code>{key[:10]}…</code>" in html
    assert "owner@example.com" in html
    assert "ago" in html  # last used, relative
    assert "Revoke “backup job”" in html


def test_api_key_without_a_name_is_a_form_error(auth, client, db):
    auth.signup()

    response = client.post("/settings/api-keys", data={"name": "   "})

    assert response.status_code == 200
    assert 'class="error"' in response.get_data(as_text=True)
    assert raw_api_key_rows(db) == []


def test_two_keys_are_independent_and_revoking_one_keeps_the_other(auth, client, db):
    auth.signup()
    first = create_api_key_via_page(client, "first")
    second = create_api_key_via_page(client, "second")
    first_id = raw_api_key_rows(db)[0]["id"]

    client.post(f"/settings/api-keys/{first_id}/revoke")

    assert client.get("/api/v1/me", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200


@pytest.mark.parametrize("headers, message", [
    ({}, "Missing Authorization header"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Malformed Authorization header"),
    ({"Authorization": "Bearer"}, "Malformed Authorization header"),
    ({"Authorization": "Bearer    "}, "Malformed Authorization header"),
    ({"Authorization": "tk_only-the-key"}, "Malformed Authorization header"),
    ({"Authorization": "Bearer tk_not-a-real-key"}, "Unknown or revoked API key"),
])
def test_missing_or_malformed_authorization_answers_401_in_the_error_shape(api, client, headers, message):
    response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    assert response.is_json
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == "unauthorized"
    assert response.json["error"]["message"].startswith(message)
    assert "fields" not in response.json["error"]


def test_browser_session_alone_does_not_open_the_api(auth, client):
    auth.signup()

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.is_json


def test_unknown_api_path_answers_404_json_not_html(api):
    response = api.get("/no-such-thing")

    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["code"] == "not_found"


def test_wrong_method_on_the_api_answers_405_json(api):
    response = api.delete("/me")

    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_api_ignores_session_cookies_for_identity(api, other_api):
    """A key decides the workspace, whoever's browser cookie comes along."""
    mine = api.get("/me").json["workspace"]
    with_other_cookie = other_api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {api.key}"})

    assert with_other_cookie.json["workspace"] == mine
