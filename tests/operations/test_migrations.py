"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

`make run` and production create tables only through `flask db upgrade`, so a model change
without a revision would break a fresh install: upgrading an empty database through every
revision must leave nothing for autogenerate to find.
"""
import logging

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.support.app import FreshGlobalsClient
from webapp import create_app
from webapp.database import render_migration_item
from webapp.extensions import db

pytestmark = pytest.mark.postgres_too


@pytest.fixture
def logging_untouched():
    """Alembic's env.py applies alembic.ini's logging config; give the next tests theirs back."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved_loggers = {name: (logger.level, logger.disabled, list(logger.handlers), logger.propagate)
                     for name, logger in logging.Logger.manager.loggerDict.items()
                     if isinstance(logger, logging.Logger)}
    yield
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    for name, (level, disabled, handlers, propagate) in saved_loggers.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.disabled = disabled
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.fixture
def bare_app(database_uri, logging_untouched):
    """The app on an empty database: no `create_all`, unlike the shared `app` fixture."""
    app = create_app({"TESTING": True, "TOCSIN_ENV": "testing", "SECRET_KEY": "test-secret-key-not-for-production",
                      "SQLALCHEMY_DATABASE_URI": database_uri, "TOCSIN_SCHEDULER": False, "WTF_CSRF_ENABLED": False})
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def schema_drift() -> list:
    """What autogenerate would put in a new revision: empty when migrations match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "render_as_batch": True, "render_item": render_migration_item})
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrading_an_empty_database_to_head_matches_the_models(bare_app):
    assert table_names() == set()

    upgrade()

    assert table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert schema_drift() == []


def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(bare_app):
    upgrade()

    downgrade(revision="base")
    assert table_names() <= {"alembic_version"}

    upgrade()
    assert table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert schema_drift() == []


def test_the_migrated_database_serves_sign_up_and_the_api(bare_app):
    """Tables from migrations, not create_all, carry the app end to end."""
    upgrade()
    client = bare_app.test_client()
    password = "correct horse battery"

    client.post("/signup", data={"email": "owner@example.com", "password": password, "confirm": password})
    page = client.post("/settings/api-keys", data={"name": "after migration"}, follow_redirects=True)

    assert "after migration" in page.get_data(as_text=True)
    assert client.get("/healthz").json["status"] == "ok"


def test_upgrading_creates_the_triggers_the_api_cache_listens_to(bare_app):
    """On PostgreSQL, the same triggers as `create_all` gives the tests; none on SQLite."""
    upgrade()
    if db.engine.dialect.name != "postgresql":
        assert not db.session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        return
    triggers = sa.text("SELECT tgname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
                       "WHERE NOT tgisinternal AND relnamespace = current_schema()::regnamespace ORDER BY tgname")
    assert db.session.scalars(triggers).all() == ["api_key_cached_rows", "job_cached_rows", "rule_cached_rows"]
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as listener:
        listener.execute(sa.text("LISTEN tocsin_cached_rows"))
        db.session.execute(sa.text("UPDATE api_key SET revoked_at = now() WHERE id = -1"))  # no row: a notice all the same
        db.session.commit()
        notices = listener.connection.dbapi_connection.notifies(timeout=1, stop_after=1)
        assert [notice.payload for notice in notices] == ["api_key"]

    downgrade(revision="0005")
    assert db.session.scalars(triggers).all() == []


def test_upgrading_keeps_existing_alerts_firing_and_their_acknowledgements(bare_app):
    """Alerts from before the lifecycle become `firing`; acknowledged ones stay acknowledged,
    and their deliveries carried `alert.fired`."""
    upgrade(revision="0006")
    rows = [
        "INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', '2026-11-01 00:00:00')",
        "INSERT INTO \"user\" (id, email, password_hash, created_at) VALUES (1, 'a@example.com', 'x', '2026-11-01 00:00:00')",
        "INSERT INTO alert (id, workspace_id, type, severity, message, repeat_count, last_seen_at, created_at) "
        "VALUES (1, 1, 'run_failed', 'critical', 'open one', 1, '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
        "INSERT INTO alert (id, workspace_id, type, severity, message, repeat_count, last_seen_at, created_at, "
        "acknowledged_by_id, acknowledged_at) VALUES (2, 1, 'run_failed', 'critical', 'acknowledged one', 1, "
        "'2026-11-01 00:00:00', '2026-11-01 00:00:00', 1, '2026-11-01 01:00:00')",
        "INSERT INTO endpoint (id, workspace_id, name, url, format, timeout_seconds, secret_encrypted, "
        "headers_encrypted, is_active, created_at, updated_at) VALUES (1, 1, 'e', 'https://example.com/hook', "
        "'json', 10, 'x', '{}', true, '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
        "INSERT INTO delivery (id, workspace_id, message_id, alert_id, endpoint_id, is_test, status, attempt_count, "
        "max_attempts, created_at, updated_at) VALUES (1, 1, 'msg_1', 1, 1, false, 'delivered', 1, 8, "
        "'2026-11-01 00:00:00', '2026-11-01 00:00:00')",
    ]
    for statement in rows:
        db.session.execute(sa.text(statement))
    db.session.commit()

    upgrade()

    alerts = db.session.execute(sa.text(
        "SELECT id, state, acknowledged_by_id, resolved_at FROM alert ORDER BY id")).all()
    assert [tuple(row) for row in alerts] == [(1, "firing", None, None), (2, "firing", 1, None)]
    assert db.session.scalar(sa.text("SELECT event FROM delivery WHERE id = 1")) == "alert.fired"


def test_upgrading_encrypts_every_endpoint_url_and_downgrading_restores_it(bare_app):
    """0011: the clear `url` becomes a Fernet token (the app's key) and the host alone; and back."""
    from webapp.services import crypto

    upgrade(revision="0010")
    urls = {1: "https://hooks.slack.com/services/T000/B000/secrettoken123", 2: "http://[::1]:8080/hook?key=k3y"}
    db.session.execute(sa.text("INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', '2026-11-01 00:00:00')"))
    for endpoint_id, url in urls.items():
        db.session.execute(sa.text(
            "INSERT INTO endpoint (id, workspace_id, name, url, format, timeout_seconds, secret_encrypted, "
            "headers_encrypted, is_active, created_at, updated_at) VALUES (:id, 1, 'e', :url, 'json', 10, 'x', '{}', "
            "true, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"), {"id": endpoint_id, "url": url})
    db.session.commit()

    upgrade()

    columns = {column["name"] for column in sa.inspect(db.engine).get_columns("endpoint")}
    assert "url" not in columns and {"url_encrypted", "url_host"} <= columns
    rows = db.session.execute(sa.text("SELECT id, url_encrypted, url_host FROM endpoint ORDER BY id")).all()
    assert [(row_id, crypto.decrypt(token), host) for row_id, token, host in rows] == [
        (1, urls[1], "hooks.slack.com"), (2, urls[2], "::1")]
    assert all("secrettoken123" not in token and "k3y" not in token for _id, token, _host in rows)
    assert schema_drift() == []
    db.session.commit()  # PostgreSQL: an open read would hold the lock the downgrade's ALTER TABLE waits for

    downgrade(revision="0010")

    restored = db.session.execute(sa.text("SELECT id, url FROM endpoint ORDER BY id")).all()
    assert dict(tuple(row) for row in restored) == urls
    assert {"url_encrypted", "url_host"}.isdisjoint(
        column["name"] for column in sa.inspect(db.engine).get_columns("endpoint"))
