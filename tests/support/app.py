"""The app under test: `make_app` with test settings (and per-test overrides), and a test client
that starts every request with an empty `flask.g`, as production does."""
import os

from flask import g, has_app_context
from flask.testing import FlaskClient

from webapp import create_app
from webapp.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


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


def app_settings(tmp_path, database_uri=None, **overrides) -> dict:
    """The settings every test app gets (loopback receivers allowed, fast retries), plus overrides."""
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
        # Tests make hundreds of API calls a second with one key; tests/api/test_rate_limits.py
        # sets the production-like limits it checks.
        "TOCSIN_API_RATE": 100_000.0, "TOCSIN_API_BURST": 100_000,
    }
    config.update(overrides)
    return config


def make_app(tmp_path, database_uri=None, **overrides):
    app = create_app(app_settings(tmp_path, database_uri, **overrides))
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        db.create_all()
    return app
