"""Sign-up, log-in, log-out, the log-in wall and where a log-in may send you next."""
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from webapp.models import AuditEvent, Membership, User, Workspace

DASHBOARD_PAGES = [
    "/overview", "/jobs", "/alerts", "/settings/api-keys", "/settings/audit-log",
    "/settings/alerts/endpoints", "/settings/alerts/rules", "/settings/alerts/deliveries",
]


def test_signup_creates_user_workspace_owner_membership_and_audit_entry(auth, db):
    response = auth.signup("  Owner@Example.COM ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/overview"
    user = db.session.scalars(sa.select(User)).one()
    assert user.email == "owner@example.com"
    assert user.password_hash != PASSWORD
    membership = db.session.scalars(sa.select(Membership)).one()
    assert (membership.user_id, membership.role) == (user.id, "owner")
    workspace = db.session.get(Workspace, membership.workspace_id)
    assert workspace.name == "owner's workspace"
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.workspace_id, event.user_id) == ("user.signup", workspace.id, user.id)
    assert event.client_ip == "127.0.0.1"


def test_signup_logs_the_new_user_in_and_lands_on_the_overview(auth, client):
    response = auth.signup()
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "owner@example.com" in page.get_data(as_text=True)
    assert "Your workspace is ready" in page.get_data(as_text=True)


def test_signup_with_an_email_already_taken_in_another_case_is_a_form_error(app, auth, db):
    auth.signup("owner@example.com")
    auth.logout()

    response = auth.signup("OWNER@example.com")

    assert response.status_code == 200
    assert "An account with this email already exists." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_signup_with_a_short_password_is_a_form_error(auth, db):
    response = auth.signup(password="123456789")

    assert response.status_code == 200
    assert "The password must be at least 10 characters." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_signup_with_a_mismatched_confirmation_is_a_form_error(client, db):
    response = client.post("/signup", data={"email": "a@example.com", "password": PASSWORD, "confirm": "other one!!"})

    assert "The passwords differ." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_signup_with_an_invalid_email_is_a_form_error(client, db):
    response = client.post("/signup", data={"email": "not-an-address", "password": PASSWORD, "confirm": PASSWORD})

    assert response.status_code == 200
    assert 'class="error"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_login_with_the_right_password_opens_the_overview(auth, client):
    auth.signup()
    auth.logout()

    response = auth.login("Owner@Example.com")

    assert response.status_code == 302
    assert response.headers["Location"] == "/overview"
    assert client.get("/overview").status_code == 200


@pytest.mark.parametrize("email, password", [("owner@example.com", "wrong password"),
                                             ("nobody@example.com", PASSWORD)])
def test_login_with_a_wrong_password_or_unknown_email_is_refused_with_one_message(auth, client, email, password):
    auth.signup()
    auth.logout()

    response = auth.login(email, password)

    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/overview").status_code == 302


def test_logout_ends_the_session(auth, client):
    auth.signup()
    assert client.get("/overview").status_code == 200

    response = auth.logout()

    assert response.headers["Location"] == "/login"
    overview = client.get("/overview")
    assert overview.status_code == 302
    assert overview.headers["Location"].startswith("/login")


def test_logout_is_not_possible_with_a_get(auth, client):
    auth.signup()
    assert client.get("/logout").status_code == 405
    assert client.get("/overview").status_code == 200


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_every_dashboard_page_redirects_to_login_when_logged_out(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={quote(path, safe='')}"


def test_login_returns_to_the_page_that_asked_for_it(auth, client):
    auth.signup()
    auth.logout()

    response = client.post("/login?next=%2Fsettings%2Fapi-keys",
                           data={"email": "owner@example.com", "password": PASSWORD})

    assert response.headers["Location"] == "/settings/api-keys"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/",
                                    "/\t/evil.example/", "javascript:alert(1)", "http:evil.example"])
def test_login_refuses_to_redirect_off_site(auth, client, target):
    auth.signup()
    auth.logout()

    response = client.post(f"/login?next={quote(target, safe='')}",
                           data={"email": "owner@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/overview"


def test_remember_me_sets_a_remember_cookie(auth, client):
    auth.signup()
    auth.logout()

    auth.login(remember=True)

    cookie = client.get_cookie("remember_token")
    assert cookie is not None and cookie.value
    assert cookie.http_only


def test_login_without_remember_me_sets_no_remember_cookie(auth, client):
    auth.signup()
    auth.logout()

    auth.login(remember=False)

    assert client.get_cookie("remember_token") is None


def test_remember_cookie_logs_a_new_browser_session_in(app, auth, client):
    auth.signup()
    auth.logout()
    auth.login(remember=True)
    remember = client.get_cookie("remember_token").value

    fresh_browser = app.test_client()
    fresh_browser.set_cookie("remember_token", remember)

    assert fresh_browser.get("/overview").status_code == 200


def test_logged_in_user_visiting_signup_or_login_goes_to_the_overview(auth, client):
    auth.signup()
    assert client.get("/signup").headers["Location"] == "/overview"
    assert client.get("/login").headers["Location"] == "/overview"


def test_login_and_signup_pages_label_every_input(client):
    for path in ("/login", "/signup"):
        html = client.get(path).get_data(as_text=True)
        for field in ("email", "password"):
            assert f'<label for="{field}">' in html


PUBLIC_ENDPOINTS = {"dashboard.index", "auth.login", "auth.signup", "auth.accept_invite", "dashboard.healthz", "dashboard.metrics", "static"}


def test_every_route_outside_the_api_and_the_public_pages_needs_login(app, client):
    """Found from the URL map, so a page added later cannot forget its @login_required."""
    adapter = app.url_map.bind("tocsin.test")
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.rule.startswith("/api/"):
            continue
        path = adapter.build(rule.endpoint, {argument: "disable" if argument == "action" else 1
                                             for argument in rule.arguments})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(path, method=method)
            checked.append((method, path, response.status_code, response.headers.get("Location", "")))

    assert len(checked) >= len(DASHBOARD_PAGES)
    refused = [(method, path) for method, path, status, location in checked
               if status != 302 or not location.startswith("/login?next=")]
    assert refused == []
