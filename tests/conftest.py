"""Fixtures every test folder uses: a fresh app and database per test (SQLite, or PostgreSQL too
for tests marked postgres_too), a client, `auth` and `api` helpers and a loopback receiver."""
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.support.accounts import ApiClient, AuthActions, create_api_key_via_page
from tests.support.app import TEST_DATABASE_URL, make_app
from tests.support.receiver import Receiver
from webapp.extensions import db as _db


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
def auth(client):
    return AuthActions(client)


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
