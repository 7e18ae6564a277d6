"""The audit log page: filters by actor, object type and time (combined, kept across pages, a bad
value explained instead of a 500), each object named and linked to its page (or marked deleted),
and an edit shown as `field: old → new` without ever a secret."""
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, AuthActions
from tests.support.factories import saved_endpoint, saved_rule, workspace_id_of
from webapp.blueprints.settings.audit_log import EVENTS_PER_PAGE
from webapp.models import ApiKey, AuditEvent, User
from webapp.services import audit, invites

MEMBER = "member@example.com"
HEADER_SECRET = "Bearer audit-header-5f1e"
NEW_URL = "http://127.0.0.1:9/new-hook-path-93ab"


def actions_on_page(html: str) -> list[str]:
    return re.findall(r"<td><code>([a-z0-9_.]+)</code></td>", html)


def user_id_of(db, email: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.email == email))


def recorded(db, workspace_id, action, object_type, *, at: datetime, user_id=None, object_id=None) -> None:
    event = audit.record(workspace_id=workspace_id, user_id=user_id, action=action, object_type=object_type,
                         object_id=object_id)
    event.created_at = at
    db.session.commit()


@pytest.fixture
def workspace_id(auth, db):
    """The owner signed up (and logged in on `client`), and a member who joined by invite."""
    auth.signup()
    owner = db.session.scalar(sa.select(User).where(User.email == "owner@example.com"))
    invite, _ = invites.create(workspace_id=owner.workspace_id, invited_by=owner, email=MEMBER)
    invites.accept(invite, PASSWORD)
    db.session.commit()
    return owner.workspace_id


# --- filters ---------------------------------------------------------------------------------------


def test_the_actor_filter_lists_the_people_in_the_log_and_narrows_to_one(client, db, workspace_id):
    recorded(db, workspace_id, "endpoint.auto_disable", "endpoint", at=datetime(2026, 11, 20, tzinfo=UTC))

    everyone = client.get("/settings/audit-log").get_data(as_text=True)
    member = client.get(f"/settings/audit-log?actor={user_id_of(db, MEMBER)}").get_data(as_text=True)
    owner = client.get(f"/settings/audit-log?actor={user_id_of(db, 'owner@example.com')}").get_data(as_text=True)
    automatic = client.get("/settings/audit-log?actor=system").get_data(as_text=True)

    assert set(actions_on_page(everyone)) == {"user.signup", "invite.create", "invite.accept", "endpoint.auto_disable"}
    assert '<label for="actor">Actor</label>' in everyone
    assert f">{MEMBER}</option>" in everyone and ">owner@example.com</option>" in everyone
    assert actions_on_page(member) == ["invite.accept"]
    assert actions_on_page(owner) == ["invite.create", "user.signup"]
    assert actions_on_page(automatic) == ["endpoint.auto_disable"]


def test_the_object_type_filter_offers_readable_names_of_the_types_present(client, db, workspace_id):
    recorded(db, workspace_id, "api_key.create", "api_key", at=datetime(2026, 11, 20, tzinfo=UTC))

    html = client.get("/settings/audit-log").get_data(as_text=True)
    invites_only = client.get("/settings/audit-log?object_type=invite").get_data(as_text=True)

    assert '<label for="object_type">Object type</label>' in html
    assert '<option value="api_key">API key</option>' in html and '<option value="invite">Invite</option>' in html
    assert '<option value="endpoint">' not in html  # no endpoint event yet
    assert actions_on_page(invites_only) == ["invite.accept", "invite.create"]


def test_since_and_until_narrow_the_list_to_the_time_range(client, db, workspace_id):
    for day in (10, 15, 20):
        recorded(db, workspace_id, f"test.day_{day}", "test", at=datetime(2025, 6, day, 12, tzinfo=UTC))

    since = client.get("/settings/audit-log?since=2025-06-14T00:00Z&object_type=test").get_data(as_text=True)
    until = client.get("/settings/audit-log?until=2025-06-15T23:59Z&object_type=test").get_data(as_text=True)
    both = client.get("/settings/audit-log?since=2025-06-14T00:00Z&until=2025-06-16T00:00Z").get_data(as_text=True)

    assert actions_on_page(since) == ["test.day_20", "test.day_15"]
    assert actions_on_page(until) == ["test.day_15", "test.day_10"]
    assert actions_on_page(both) == ["test.day_15"]
    assert 'id="audit-since"' in both and "Clear filters" in both


def test_filters_combine(client, db, workspace_id):
    member_id = user_id_of(db, MEMBER)
    recorded(db, workspace_id, "rule.update", "rule", user_id=member_id, at=datetime(2025, 6, 10, tzinfo=UTC))
    recorded(db, workspace_id, "rule.delete", "rule", user_id=member_id, at=datetime(2025, 6, 20, tzinfo=UTC))
    recorded(db, workspace_id, "endpoint.update", "endpoint", user_id=member_id, at=datetime(2025, 6, 20, tzinfo=UTC))

    html = client.get(f"/settings/audit-log?actor={member_id}&object_type=rule&since=2025-06-15T00:00Z"
                      ).get_data(as_text=True)

    assert actions_on_page(html) == ["rule.delete"]
    assert "1 event match these filters" in html


def test_the_pager_keeps_the_filters(client, db, workspace_id):
    for number in range(EVENTS_PER_PAGE + 3):
        audit.record(workspace_id=workspace_id, user_id=None, action=f"test.event_{number:03d}", object_type="test")
    db.session.commit()

    first = client.get("/settings/audit-log?object_type=test&actor=system").get_data(as_text=True)
    next_link = re.search(r'href="(/settings/audit-log\?[^"]*page=2[^"]*)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)

    assert "object_type=test" in next_link and "actor=system" in next_link
    assert len(actions_on_page(first)) == EVENTS_PER_PAGE
    assert actions_on_page(second) == ["test.event_002", "test.event_001", "test.event_000"]
    assert "Page 2 of 2" in second


@pytest.mark.parametrize("query, words", [
    ("since=yesterday", "Since: &#39;yesterday&#39; is not a date"),
    ("until=2025-13-40", "Until: &#39;2025-13-40&#39; is not a date"),
    ("since=2025-06-20&until=2025-06-10", "Until is before Since"),
    ("actor=999999", "Choose an actor from the list"),
    ("actor=somebody", "Choose an actor from the list"),
    ("object_type=spaceship", "Choose an object type from the list"),
])
def test_a_bad_filter_is_explained_and_ignored_not_a_500(client, workspace_id, query, words):
    response = client.get(f"/settings/audit-log?{query}")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert words in html
    assert "Some filters are not valid and were ignored" in html
    assert "user.signup" in actions_on_page(html)


def test_changes_made_with_an_api_key_name_the_key_and_can_be_filtered_by_it(api, client, db):
    created = api.post("/endpoints", json={"name": "Ops hook", "url": "http://127.0.0.1:9/hook"}).get_json()
    key_id = db.session.scalar(sa.select(ApiKey.id))
    client.post(f"/settings/alerts/endpoints/{created['id']}/disable")  # on the page, not with the key

    everything = client.get("/settings/audit-log").get_data(as_text=True)
    by_key = client.get(f"/settings/audit-log?actor=key:{key_id}").get_data(as_text=True)

    assert f'<option value="key:{key_id}">API key “test key” (' in everything
    assert "via API key “test key”" in everything
    assert actions_on_page(by_key) == ["endpoint.create"]
    assert set(actions_on_page(everything)) >= {"endpoint.create", "endpoint.disable", "api_key.create"}


def test_another_workspaces_user_is_not_an_actor_here(app, client, db, workspace_id):
    AuthActions(app.test_client()).signup("intruder@example.com")
    intruder_id = user_id_of(db, "intruder@example.com")

    html = client.get(f"/settings/audit-log?actor={intruder_id}").get_data(as_text=True)

    assert "intruder@example.com" not in html
    assert "Choose an actor from the list" in html


# --- objects and changes ---------------------------------------------------------------------------


def test_an_existing_endpoint_is_linked_by_name_and_a_deleted_one_is_marked(api, client, db):
    kept = api.post("/endpoints", json={"name": "Pager hook", "url": "http://127.0.0.1:9/a"}).get_json()
    gone = api.post("/endpoints", json={"name": "Old hook", "url": "http://127.0.0.1:9/b"}).get_json()
    assert api.delete(f"/endpoints/{gone['id']}").status_code == 204
    workspace_id = workspace_id_of()
    recorded(db, workspace_id, "endpoint.test", "endpoint", object_id=987654, at=datetime(2025, 1, 1, tzinfo=UTC))

    html = client.get("/settings/audit-log?object_type=endpoint").get_data(as_text=True)

    assert f'<a href="/settings/alerts/endpoints/{kept["id"]}">Pager hook</a>' in html
    assert f'href="/settings/alerts/endpoints/{gone["id"]}"' not in html
    assert "Old hook (deleted)" in html
    assert "#987654 (deleted)" in html


def test_objects_of_every_kind_on_a_page_are_looked_up_once_per_kind(client, db, workspace_id):
    endpoints = [saved_endpoint(workspace_id, name=f"Hook {number}") for number in range(3)]
    rules = [saved_rule(workspace_id, name=f"Rule {number}") for number in range(3)]
    for row in endpoints + rules:
        kind = "endpoint" if row in endpoints else "rule"
        audit.record(workspace_id=workspace_id, user_id=None, action=f"{kind}.update", object_type=kind,
                     object_id=row.id)
    db.session.commit()
    first_rule_id = rules[0].id
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    html = client.get("/settings/audit-log").get_data(as_text=True)

    assert all(f">Hook {number}</a>" in html and f">Rule {number}</a>" in html for number in range(3))
    assert f'href="/settings/alerts/rules/{first_rule_id}"' in html
    assert len([sql for sql in statements if "FROM endpoint" in sql and "audit_event" not in sql]) == 1
    assert len([sql for sql in statements if "FROM rule" in sql and "audit_event" not in sql]) == 1


def test_an_endpoint_edit_shows_old_to_new_and_never_a_secret(api, client, db):
    created = api.post("/endpoints", json={"name": "Ops hook", "url": "http://127.0.0.1:9/hook",
                                           "headers": {"Authorization": HEADER_SECRET}}).get_json()
    response = api.patch(f"/endpoints/{created['id']}", json={
        "name": "Billing hook", "timeout_seconds": 30, "url": NEW_URL,
        "headers": {"Authorization": "Bearer rotated-9d0c"}})
    assert response.status_code == 200, response.get_json()

    html = client.get("/settings/audit-log").get_data(as_text=True)
    stored = db.session.scalar(sa.select(AuditEvent.changes).where(AuditEvent.action == "endpoint.update"))

    assert "name</span>: Ops hook → Billing hook" in html
    assert "timeout (seconds)</span>: 10 → 30" in html
    assert "url</span>: changed" in html and "headers</span>: changed" in html
    assert stored["name"] == ["Ops hook", "Billing hook"] and stored["headers"] == "changed"
    for secret in (HEADER_SECRET, "rotated-9d0c", NEW_URL, "new-hook-path", created["secret"]):
        assert secret not in html and secret not in str(stored)


def test_a_rule_edit_shows_its_endpoints_by_name(api, client, db):
    first = api.post("/endpoints", json={"name": "Pager hook", "url": "http://127.0.0.1:9/a"}).get_json()
    second = api.post("/endpoints", json={"name": "Chat hook", "url": "http://127.0.0.1:9/b"}).get_json()
    rule = api.post("/rules", json={"name": "Nightly", "event": "run_failed", "endpoint_ids": [first["id"]]})
    assert rule.status_code == 201, rule.get_json()
    changed = api.patch(f"/rules/{rule.get_json()['id']}", json={"endpoint_ids": [first["id"], second["id"]],
                                                                 "severity": "critical"})
    assert changed.status_code == 200, changed.get_json()

    html = client.get("/settings/audit-log?object_type=rule").get_data(as_text=True)

    assert "endpoints</span>: Pager hook → Pager hook, Chat hook" in html
    assert "severity</span>: warning → critical" in html


def test_an_edit_recorded_before_changes_were_stored_still_reads_as_its_summary(client, db, workspace_id):
    audit.record(workspace_id=workspace_id, user_id=None, action="endpoint.update", object_type="endpoint",
                 object_id=5, summary="changed name, url of endpoint 'Ops hook'")
    db.session.commit()

    html = client.get("/settings/audit-log").get_data(as_text=True)

    assert "changed name, url of endpoint &#39;Ops hook&#39;" in html
    assert "#5 (deleted)" in html
