"""The audit log records sign-up and API key changes and shows them newest first, paginated."""
import re

import sqlalchemy as sa

from tests.support.accounts import create_api_key_via_page
from webapp.blueprints.settings.audit_log import EVENTS_PER_PAGE
from webapp.models import ApiKey, AuditEvent, User
from webapp.services import audit


def actions_on_page(html: str) -> list[str]:
    return re.findall(r"<td><code>([a-z0-9_.]+)</code></td>", html)


def test_signup_and_api_key_create_and_revoke_are_audited(auth, client, db):
    auth.signup()
    create_api_key_via_page(client, "deploy hook")
    key_id = db.session.scalar(sa.select(ApiKey.id))
    client.post(f"/settings/api-keys/{key_id}/revoke")

    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    user = db.session.scalars(sa.select(User)).one()

    assert [event.action for event in events] == ["user.signup", "api_key.create", "api_key.revoke"]
    assert all(event.user_id == user.id and event.client_ip == "127.0.0.1" for event in events)
    assert [event.object_type for event in events] == ["user", "api_key", "api_key"]
    assert events[1].object_id == events[2].object_id == str(key_id)
    assert "deploy hook" in events[1].summary and "deploy hook" in events[2].summary


def test_revoking_twice_records_one_event(auth, client, db):
    auth.signup()
    create_api_key_via_page(client)
    key_id = db.session.scalar(sa.select(ApiKey.id))

    client.post(f"/settings/api-keys/{key_id}/revoke")
    client.post(f"/settings/api-keys/{key_id}/revoke")

    revocations = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "api_key.revoke"))
    assert revocations == 1


def test_audit_log_page_shows_events_newest_first_with_who_and_where(auth, client, db):
    auth.signup()
    create_api_key_via_page(client, "deploy hook")

    html = client.get("/settings/audit-log").get_data(as_text=True)

    assert actions_on_page(html) == ["api_key.create", "user.signup"]
    assert "owner@example.com" in html
    assert "127.0.0.1" in html
    assert "created API key &#39;deploy hook&#39;" in html


def test_audit_log_page_paginates(auth, client, db):
    auth.signup()
    workspace_id = db.session.scalars(sa.select(User)).one().workspace_id
    for number in range(EVENTS_PER_PAGE + 5):
        audit.record(workspace_id=workspace_id, user_id=None, action=f"test.event_{number:03d}",
                     object_type="test")
    db.session.commit()

    first = client.get("/settings/audit-log").get_data(as_text=True)
    second = client.get("/settings/audit-log?page=2").get_data(as_text=True)

    first_actions, second_actions = actions_on_page(first), actions_on_page(second)
    assert len(first_actions) == EVENTS_PER_PAGE
    assert first_actions[0] == f"test.event_{EVENTS_PER_PAGE + 4:03d}"
    assert second_actions[-1] == "user.signup"
    assert len(first_actions) + len(second_actions) == EVENTS_PER_PAGE + 6
    assert not set(first_actions) & set(second_actions)
    assert "Page 1 of 2" in first and 'href="/settings/audit-log?page=2"' in first
    assert "Page 2 of 2" in second


def test_audit_log_page_out_of_range_is_empty_not_an_error(auth, client):
    auth.signup()
    response = client.get("/settings/audit-log?page=999")
    assert response.status_code == 200
    assert actions_on_page(response.get_data(as_text=True)) == []
