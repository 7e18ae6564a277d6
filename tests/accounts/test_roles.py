"""Roles: a viewer reads every page and changes nothing (every POST of the pages answers 403 with
one plain sentence, from one before-request hook); an admin changes everything but members; an
owner manages members."""
import pytest
import sqlalchemy as sa
from werkzeug.routing.converters import NumberConverter

from tests.support.accounts import create_api_key_via_page
from tests.support.factories import make_delivery, make_endpoint, saved_endpoint
from tests.support.teams import join
from webapp.models import ApiKey, Membership, User, Workspace
from webapp.permissions import ALLOWED_FOR_EVERY_ROLE, OWNER_ONLY_REFUSED, VIEWER_REFUSED
from webapp.services import crypto

VIEWER = "viewer@example.com"
ADMIN = "admin@example.com"
# Tables a refused request may still write: the session's last-seen time and nothing else.
BOOKKEEPING = {"user_session", "auth_throttle"}


@pytest.fixture
def owner(auth, client):
    auth.signup()
    return client


@pytest.fixture
def viewer(app, owner):
    return join(app, owner, VIEWER, "viewer")


@pytest.fixture
def admin(app, owner):
    return join(app, owner, ADMIN, "admin")


def owner_workspace(db) -> Workspace:
    return db.session.scalar(sa.select(Workspace).order_by(Workspace.id))


def write_routes(app) -> list[tuple[str, str]]:
    """(endpoint, path) for every rule that accepts POST outside /api/, but the log-in pages and
    a person's own actions, with any id filled in: the hook answers before the view looks."""
    adapter = app.url_map.bind("tocsin.test")
    routes = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.rule.startswith("/api/"):
            continue
        if rule.endpoint.startswith("auth.") or rule.endpoint in ALLOWED_FOR_EVERY_ROLE:
            continue
        values = {name: 1 if isinstance(converter, NumberConverter) else "disable"
                  for name, converter in rule._converters.items()}
        routes.append((rule.endpoint, adapter.build(rule.endpoint, values)))
    return routes


def every_row(db) -> dict[str, list]:
    db.session.expire_all()
    return {table.name: db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            for table in db.metadata.sorted_tables if table.name not in BOOKKEEPING}


def test_a_viewer_gets_403_with_the_sentence_on_every_write_page_route(app, owner, viewer, db):
    endpoint, _ = make_endpoint(owner_workspace(db), "http://127.0.0.1:9/hook")
    make_delivery(endpoint)
    db.session.commit()
    before = every_row(db)
    routes = write_routes(app)
    assert {"settings.new_endpoint", "settings.reveal_endpoint_secret", "settings.test_endpoint",
            "settings.api_keys", "settings.invites_page", "settings.change_member_role",
            "settings.rename_workspace", "dashboard.resolve_alert"} <= {endpoint for endpoint, _ in routes}

    for endpoint_name, path in routes:
        response = viewer.post(path, data={"name": "x", "email": "x@example.com", "role": "owner"})
        assert response.status_code == 403, (endpoint_name, path, response.status_code)
        assert VIEWER_REFUSED in response.get_data(as_text=True), path

    assert every_row(db) == before


def test_a_viewer_cannot_reveal_a_secret_but_reads_every_settings_page(app, owner, viewer, db):
    endpoint = saved_endpoint(owner_workspace(db).id)
    secret = crypto.decrypt(endpoint.secret_encrypted)
    refused = viewer.post(f"/settings/alerts/endpoints/{endpoint.id}/reveal")
    assert refused.status_code == 403 and secret not in refused.get_data(as_text=True)
    for path in ("/overview", "/jobs", "/alerts", "/settings", "/settings/alerts/endpoints",
                 f"/settings/alerts/endpoints/{endpoint.id}", "/settings/alerts/rules", "/settings/api-keys",
                 "/settings/invites", "/settings/members", "/settings/audit-log", "/settings/account"):
        response = viewer.get(path)
        assert response.status_code == 200, path
        assert secret not in response.get_data(as_text=True)


def test_a_viewer_still_changes_their_own_time_zone_and_logs_out(viewer, db):
    assert viewer.post("/settings/account", data={"time_zone": "Europe/Paris"}).status_code == 302
    assert db.session.scalar(sa.select(User.time_zone).where(User.email == VIEWER)) == "Europe/Paris"
    assert viewer.post("/logout").status_code == 302
    assert viewer.get("/overview").status_code == 302


def test_an_admin_makes_api_keys_and_invites_but_does_not_manage_members(app, owner, admin, db):
    assert create_api_key_via_page(admin, "admin's cron").startswith("tk_")
    assert db.session.scalar(sa.select(ApiKey.name)) == "admin's cron"
    assert join(app, admin, "late@example.com", "viewer") is not None  # admins invite too
    owner_membership = db.session.scalar(sa.select(Membership).join(User).where(User.email == "owner@example.com"))

    refused = admin.post(f"/settings/members/{owner_membership.id}/role", data={"role": "viewer"})

    assert refused.status_code == 403 and OWNER_ONLY_REFUSED in refused.get_data(as_text=True)
    db.session.refresh(owner_membership)
    assert owner_membership.role == "owner"


def test_the_members_page_shows_write_buttons_to_owners_only(owner, viewer):
    owner_page = owner.get("/settings/members").get_data(as_text=True)
    viewer_page = viewer.get("/settings/members").get_data(as_text=True)
    assert "Change role" in owner_page and f"Remove {VIEWER}" in owner_page
    assert "Change role" not in viewer_page and "Remove " not in viewer_page
    assert VIEWER in viewer_page and "owner@example.com" in viewer_page


def test_a_viewer_sees_no_invite_form(owner, viewer):
    page = viewer.get("/settings/invites").get_data(as_text=True)
    assert "Owners and admins invite colleagues" in page and "Create invite link" not in page
    assert "Create invite link" in owner.get("/settings/invites").get_data(as_text=True)
