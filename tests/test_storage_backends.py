"""The storage layer behaves the same on SQLite and PostgreSQL (marked postgres_too)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.models import Workspace
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too


def test_datetimes_come_back_utc_aware(db):
    created = utcnow() - timedelta(hours=3)
    db.session.add(Workspace(name="tz", created_at=created))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalar(sa.select(Workspace.created_at))
    assert stored.tzinfo is not None
    assert abs((stored - created).total_seconds()) < 1


def test_signup_and_api_key_work_on_this_backend(api):
    assert api.get("/me").status_code == 200


def test_a_connection_the_server_dropped_while_idle_is_replaced_unnoticed(app, api, db, monkeypatch):
    """A restarted or failed-over server drops pooled connections while they sit idle: the
    next request after the pause still succeeds, on a new connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite file has no server to lose")
    from webapp import database

    assert api.get("/me").status_code == 200
    db.session.remove()  # the request's connection goes back to the pool, idle
    with db.engine.connect() as connection:
        backend_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() == backend_pid  # pooled
    killer = sa.create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend_pid})").scalar()
    finally:
        killer.dispose()
    monkeypatch.setattr(database, "IDLE_SECONDS_BEFORE_PING", 0.0)  # "idle for long enough"

    response = api.get("/me")

    assert response.status_code == 200
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != backend_pid


def test_a_busy_pooled_connection_is_not_pinged_before_each_use(app, db):
    """One round trip fewer per request: only a connection idle for a while is pinged."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite connections are never pinged")
    pings = []
    original = db.engine.dialect.do_ping
    db.engine.dialect.do_ping = lambda connection: pings.append(1) or original(connection)
    try:
        for _ in range(3):
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
    finally:
        db.engine.dialect.do_ping = original
    assert pings == []


def test_rule_job_filters_choose_the_alerts_on_this_backend(api, db):
    """Globs (`*`, `?`, `[0-9]`), "every job" and an inactive rule, through the API: a
    matching active rule raises an alert for a known job's failed run, the others do not."""
    from webapp.models import Alert
    from webapp.services import dispatch

    endpoint = api.post("/endpoints", json={"name": "Receiver", "url": "http://127.0.0.1:9/hook"}).get_json()
    for name, job_filter in (("billing", "billing-*"), ("exports", "exp?rt-[0-9]"), ("any", None)):
        assert api.post("/rules", json={"name": name, "event": "run_failed", "job_filter": job_filter,
                                        "endpoint_ids": [endpoint["id"]], "cooldown_seconds": 0}).status_code == 201
    assert api.post("/rules", json={"name": "off", "event": "run_failed", "job_filter": "nightly-*",
                                    "endpoint_ids": [endpoint["id"]], "is_active": False}).status_code == 201
    for job in ("billing-eu", "export-7", "nightly-x"):
        assert api.post("/runs", json={"job": job, "status": "succeeded"}).status_code == 201  # jobs exist now

    for job in ("billing-eu", "export-7", "nightly-x"):
        assert api.post("/runs", json={"job": job, "status": "failed"}).status_code == 201
    # Their first attempts run on the send pool: let them end before the schema is dropped.
    assert dispatch.wait_idle(10)

    alerts = db.session.execute(sa.select(Alert.message)).scalars().all()
    assert sorted(message.split()[0] for message in alerts) == sorted(
        ["billing-eu", "billing-eu", "export-7", "export-7", "nightly-x"])  # "any" fires for every job
