"""Every response carries the headers that stop framing, sniffing, referrer leaks and injected
script; pages that show a secret or a key are never cached."""
import re

from tests.support.app import make_app

PAGES = ["/login", "/signup", "/overview", "/jobs", "/alerts", "/settings/api-keys", "/settings/alerts/endpoints",
         "/settings/alerts/endpoints/new", "/settings/alerts/rules", "/settings/alerts/rules/new",
         "/settings/alerts/deliveries", "/settings/audit-log", "/settings/invites"]


def test_every_page_and_api_answer_carries_the_security_headers(auth, client, api):
    auth.signup()
    answers = [client.get(path) for path in PAGES] + [api.get("/runs"), client.get("/healthz"),
                                                      client.get("/static/tocsin.css")]
    for response in answers:
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers  # served on http in tests


def test_hsts_when_served_on_https(tmp_path):
    app = make_app(tmp_path, TOCSIN_BASE_URL="https://tocsin.example.org")
    with app.app_context():
        response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_page_holds_inline_script_or_style(auth, client):
    auth.signup()
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_the_page_that_shows_a_new_api_key_is_never_cached(auth, client):
    auth.signup()
    assert client.get("/settings/api-keys").headers.get("Cache-Control") != "no-store"
    response = client.post("/settings/api-keys", data={"name": "cron"}, follow_redirects=True)
    assert "tk_" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/settings/api-keys").headers.get("Cache-Control") != "no-store"  # shown once


def test_the_page_that_shows_a_new_signing_secret_is_never_cached(auth, client):
    auth.signup()
    response = client.post("/settings/alerts/endpoints/new", data={"name": "hook", "url": "http://127.0.0.1:9/x",
                                                                   "format": "json", "timeout_seconds": "5"},
                           follow_redirects=True)
    assert "whsec_" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
