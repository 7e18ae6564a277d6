"""TOCSIN_SIGNUP: `open` lets anyone sign up, `invite` and `closed` refuse /signup, except for the
first user of an empty instance; the shell command works in every mode."""
import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, AuthActions
from webapp.config import load_config
from webapp.models import Membership, User

MODES = ("open", "invite", "closed")


def user_emails(db) -> list[str]:
    return db.session.scalars(sa.select(User.email).order_by(User.id)).all()


@pytest.mark.parametrize("environment, expected", [
    ("development", "open"), ("testing", "open"), ("production", "invite"), ("staging", "invite")])
def test_the_default_mode_is_open_for_make_run_and_tests_and_invite_in_production(
        monkeypatch, tmp_path, environment, expected):
    monkeypatch.delenv("TOCSIN_SIGNUP", raising=False)
    monkeypatch.setenv("TOCSIN_ENV", environment)
    monkeypatch.setenv("SECRET_KEY", "x")

    assert load_config(tmp_path)["TOCSIN_SIGNUP"] == expected


def test_the_mode_is_read_from_the_environment_and_a_bad_value_stops_start_up_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("TOCSIN_ENV", "production")
    monkeypatch.setenv("TOCSIN_SIGNUP", " Closed ")
    assert load_config(tmp_path)["TOCSIN_SIGNUP"] == "closed"

    monkeypatch.setenv("TOCSIN_SIGNUP", "invites")
    with pytest.raises(ValueError, match=r"TOCSIN_SIGNUP must be one of open, invite, closed, got 'invites'"):
        load_config(tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_the_first_user_of_an_empty_instance_can_always_sign_up_and_owns_the_workspace(app, auth, client, db, mode):
    app.config["TOCSIN_SIGNUP"] = mode

    login_page = client.get("/login").get_data(as_text=True)
    assert "Create an account" in login_page
    assert client.get("/signup").get_data(as_text=True).count('name="password"') == 1

    response = auth.signup()

    assert response.status_code == 302 and response.headers["Location"] == "/overview"
    membership = db.session.scalars(sa.select(Membership)).one()
    assert (membership.user.email, membership.role) == ("owner@example.com", "owner")


@pytest.mark.parametrize("mode, explanation", [
    ("invite", "Sign-up on this Tocsin is by invitation"), ("closed", "Sign-up on this Tocsin is closed")])
def test_once_a_user_exists_signup_is_refused_in_invite_and_closed_modes(app, auth, client, db, mode, explanation):
    auth.signup()
    auth.logout()
    app.config["TOCSIN_SIGNUP"] = mode

    page = client.get("/signup")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert explanation in html and 'name="password"' not in html

    refused = AuthActions(client).signup("newcomer@example.com")

    assert refused.status_code == 403
    assert explanation in refused.get_data(as_text=True)
    assert user_emails(db) == ["owner@example.com"]
    assert client.get("/overview").status_code == 302  # not logged in as anyone


@pytest.mark.parametrize("mode", ("invite", "closed"))
def test_the_login_page_offers_sign_up_only_when_it_is_possible(app, auth, client, mode):
    auth.signup()
    auth.logout()

    app.config["TOCSIN_SIGNUP"] = "open"
    assert "Create an account" in client.get("/login").get_data(as_text=True)
    app.config["TOCSIN_SIGNUP"] = mode
    html = client.get("/login").get_data(as_text=True)
    assert "Create an account" not in html and "/signup" not in html


def test_open_mode_lets_anyone_sign_up_with_a_workspace_of_their_own(app, auth, client, db):
    auth.signup()
    auth.logout()

    response = AuthActions(client).signup("second@example.com")

    assert response.status_code == 302
    assert user_emails(db) == ["owner@example.com", "second@example.com"]
    workspaces = db.session.scalars(sa.select(Membership.workspace_id)).all()
    assert len(set(workspaces)) == 2


@pytest.mark.parametrize("mode", MODES)
def test_the_shell_command_creates_users_in_every_mode(app, auth, db, mode):
    auth.signup()
    app.config["TOCSIN_SIGNUP"] = mode

    result = app.test_cli_runner().invoke(args=["tocsin", "create-user", "ops@example.com", "--password-stdin"],
                                          input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert user_emails(db) == ["owner@example.com", "ops@example.com"]
