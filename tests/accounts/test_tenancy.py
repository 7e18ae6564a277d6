"""Workspaces are walled off: another workspace's id answers 404 and its rows never show."""
import sqlalchemy as sa

from tests.support.accounts import AuthActions, create_api_key_via_page
from webapp.models import ApiKey, AuditEvent


def two_workspaces(app, client, auth):
    """Owner (on `client`) and an intruder with their own browser; each made one API key."""
    auth.signup("owner@example.com")
    owner_key = create_api_key_via_page(client, "owner key")
    intruder = app.test_client()
    AuthActions(intruder).signup("intruder@example.com")
    intruder_key = create_api_key_via_page(intruder, "intruder key")
    return intruder, owner_key, intruder_key


def test_revoking_another_workspaces_key_answers_404_and_changes_nothing(app, client, auth, db):
    intruder, owner_key, _ = two_workspaces(app, client, auth)
    owner_key_id = db.session.scalar(sa.select(ApiKey.id).where(ApiKey.name == "owner key"))
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    response = intruder.post(f"/settings/api-keys/{owner_key_id}/revoke")

    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiKey, owner_key_id).revoked_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events_before
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {owner_key}"}).status_code == 200


def test_revoking_an_id_that_does_not_exist_answers_404(auth, client):
    auth.signup()
    assert client.post("/settings/api-keys/999999/revoke").status_code == 404


def test_api_keys_page_lists_only_this_workspaces_keys(app, client, auth):
    intruder, owner_key, intruder_key = two_workspaces(app, client, auth)

    owner_page = client.get("/settings/api-keys").get_data(as_text=True)
    intruder_page = intruder.get("/settings/api-keys").get_data(as_text=True)

    assert "owner key" in owner_page and "intruder key" not in owner_page
    assert "intruder key" in intruder_page and "owner key" not in intruder_page


def test_audit_log_shows_only_this_workspaces_events(app, client, auth):
    intruder, _, _ = two_workspaces(app, client, auth)

    owner_log = client.get("/settings/audit-log").get_data(as_text=True)

    assert "owner@example.com" in owner_log
    assert "intruder@example.com" not in owner_log
    assert "intruder key" not in owner_log


def test_each_api_key_sees_its_own_workspace(app, client, auth):
    _, owner_key, intruder_key = two_workspaces(app, client, auth)

    owner = client.get("/api/v1/me", headers={"Authorization": f"Bearer {owner_key}"}).json["workspace"]
    intruder = client.get("/api/v1/me", headers={"Authorization": f"Bearer {intruder_key}"}).json["workspace"]

    assert owner["name"] == "owner's workspace"
    assert intruder["name"] == "intruder's workspace"
    assert owner["id"] != intruder["id"]
