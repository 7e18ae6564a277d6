"""Log-out ends sessions on the server, cookies are Secure on https and remember-me lasts 30 days."""
import logging
from datetime import timedelta

import sqlalchemy as sa

from tests.support.app import make_app
from webapp.models import User


def test_logout_ends_a_copied_session_and_a_copied_remember_cookie(app, auth, client):
    auth.signup()
    auth.logout()
    auth.login(remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value
    assert client.get("/overview").status_code == 200

    auth.logout()

    for name, value in (("session", session_cookie), ("remember_token", remember_cookie)):
        thief = app.test_client()
        thief.set_cookie(name, value)
        response = thief.get("/overview")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), name


def test_logging_out_on_one_browser_ends_the_session_on_another(app, auth, client):
    auth.signup()
    other_browser = app.test_client()
    other_browser.post("/login", data={"email": "owner@example.com", "password": "correct horse battery"})
    assert other_browser.get("/overview").status_code == 200

    auth.logout()

    assert other_browser.get("/overview").status_code == 302


def test_logging_in_again_after_logout_works(auth, client):
    auth.signup()
    auth.logout()
    auth.login()
    assert client.get("/overview").status_code == 200


def test_a_session_from_before_session_versions_still_opens_the_dashboard(app, auth, client, db):
    auth.signup()
    user_id = db.session.scalar(sa.select(User.id))
    old_browser = app.test_client()
    with old_browser.session_transaction() as session:
        session["_user_id"] = str(user_id)  # what Flask-Login kept before this version
        session["_fresh"] = True
    assert old_browser.get("/overview").status_code == 200


def test_malformed_or_huge_session_ids_are_logged_out_not_a_500(app, auth):
    auth.signup()
    for value in ("1.x", "abc", "99999999999999999999999", "1.99999999999999999999", "²", ""):
        browser = app.test_client()
        with browser.session_transaction() as session:
            session["_user_id"] = value
        assert browser.get("/overview").status_code == 302, value


def test_remember_me_lasts_thirty_days_and_cookies_are_http_only(auth, client):
    auth.signup()
    auth.logout()
    auth.login(remember=True)
    cookie = client.get_cookie("remember_token")
    assert cookie.http_only
    assert client.application.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    assert cookie.expires is not None


def _login_cookie_headers(app) -> list[str]:
    client = app.test_client()
    client.post("/signup", data={"email": "owner@example.com", "password": "correct horse battery",
                                 "confirm": "correct horse battery"})
    client.post("/logout")
    response = client.post("/login", data={"email": "owner@example.com", "password": "correct horse battery",
                                           "remember": "y"})
    return response.headers.getlist("Set-Cookie")


def test_cookies_are_secure_when_tocsin_is_served_on_https(tmp_path):
    app = make_app(tmp_path, TOCSIN_BASE_URL="https://tocsin.example.org")
    with app.app_context():
        cookies = _login_cookie_headers(app)
    assert cookies and all("; Secure" in cookie for cookie in cookies if cookie.startswith(("session=", "remember")))


def test_cookies_are_not_secure_on_plain_http_and_production_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="webapp.security"):
        app = make_app(tmp_path, TOCSIN_ENV="production", TOCSIN_BASE_URL="http://tocsin.example.org")
    assert "TOCSIN_BASE_URL is not https" in caplog.text
    with app.app_context():
        cookies = _login_cookie_headers(app)
    assert cookies and not any("Secure" in cookie for cookie in cookies)
