"""Shared fixtures: a fresh app and database per test, a client, `auth` and `api` helpers,
a loopback receiver, a live server and a headless Chromium page."""
import os
import re
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient

from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver
from webapp import create_app
from webapp.extensions import db as _db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
PASSWORD = "correct horse battery"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgres_too: also run this test on PostgreSQL when TEST_DATABASE_URL is set")


def pytest_generate_tests(metafunc):
    """Storage, claim and concurrency tests (marked postgres_too) run on both databases."""
    if "database_uri" in metafunc.fixturenames and metafunc.definition.get_closest_marker("postgres_too"):
        backends = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
        metafunc.parametrize("database_uri", backends, indirect=True)


def _with_search_path(url: str, schema: str) -> str:
    from webapp.config import normalise_database_url

    separator = "&" if "?" in url else "?"
    return normalise_database_url(url) + f"{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def database_uri(request, tmp_path):
    """A fresh database per test: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tocsin-test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_with_search_path(TEST_DATABASE_URL, "public"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(TEST_DATABASE_URL, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class FreshGlobalsClient(FlaskClient):
    """A test client whose requests start with an empty `flask.g`.

    The `app` fixture keeps one app context pushed (so tests can use `db.session`), and Flask
    reuses a pushed context for requests: without this, Flask-Login's cached user and the API's
    workspace would leak from one request (or one client) into the next, as never in production.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            for name in list(vars(g)):
                delattr(g, name)
        return super().open(*args, **kwargs)


def make_app(tmp_path, database_uri=None, **overrides):
    config = {
        "TESTING": True,
        "TOCSIN_ENV": "testing",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_uri or f"sqlite:///{tmp_path / 'tocsin-test.db'}",
        "WTF_CSRF_ENABLED": False,
        "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TOCSIN_SCHEDULER": False,
        "TOCSIN_BASE_URL": "http://tocsin.test",
        "TOCSIN_RETRY_SCALE": 0.01,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        _db.create_all()
    return app


@pytest.fixture
def app_config():
    """Override to change the app's config for one test module: return a dict."""
    return {}


@pytest.fixture
def app(tmp_path, app_config, database_uri):
    app = make_app(tmp_path, database_uri, **app_config)
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign up, log in and log out through the real pages (flaskr's AuthActions)."""

    def __init__(self, client):
        self.client = client

    def signup(self, email="owner@example.com", password=PASSWORD):
        return self.client.post("/signup", data={"email": email, "password": password, "confirm": password})

    def login(self, email="owner@example.com", password=PASSWORD, remember=False):
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return self.client.post("/login", data=data)

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


class ApiClient:
    """Calls /api/v1 with a bearer key made through the API-keys page of the logged-in user."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.key}", **(headers or {})}

    def get(self, path, **kwargs):
        return self.client.get("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.client.post("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.client.patch("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def delete(self, path, **kwargs):
        return self.client.delete("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


def session_cookie_text(app, client) -> str:
    """The session cookie as anyone holding it could read it: the raw value and its decoded
    contents (Flask signs the cookie but does not encrypt it)."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    contents = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return f"{cookie.value}\n{contents!r}"


def shown_api_key(html: str) -> str:
    """The new key from the box that shows it once. A bare `tk_…` search also matched inside the
    page's random CSRF token now and then (one test in ~3,000), and that key was unknown."""
    shown = re.search(r'id="new-api-key">(tk_[A-Za-z0-9_-]+)<', html)
    assert shown is not None, f"the new API key was not shown:\n{html[:3000]}"
    return shown.group(1)


def create_api_key_via_page(client, name="test key") -> str:
    response = client.post("/settings/api-keys", data={"name": name}, follow_redirects=True)
    return shown_api_key(response.get_data(as_text=True))


@pytest.fixture
def api(client, auth):
    """An API client for a freshly signed-up user (who stays logged in on `client`)."""
    auth.signup()
    return ApiClient(client, create_api_key_via_page(client))


@pytest.fixture
def other_api(app):
    """A second, unrelated workspace with its own browser session and API key."""
    other_client = app.test_client()
    AuthActions(other_client).signup("intruder@example.com")
    return ApiClient(other_client, create_api_key_via_page(other_client, "intruder key"))


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
