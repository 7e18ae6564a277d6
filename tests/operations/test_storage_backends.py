"""The storage layer behaves the same on SQLite and PostgreSQL (marked postgres_too)."""
import threading
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
    db.session.remove()  # the request's connections go back to the pool, idle
    backend_pids = _pooled_backend_pids(db.engine)
    assert backend_pids
    killer = sa.create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as connection:
            for backend_pid in backend_pids:
                assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend_pid})").scalar()
    finally:
        killer.dispose()
    monkeypatch.setattr(database, "IDLE_SECONDS_BEFORE_PING", 0.0)  # "idle for long enough"

    response = api.get("/me")

    assert response.status_code == 200
    assert not _pooled_backend_pids(db.engine) & backend_pids


def _pooled_backend_pids(engine) -> set[int]:
    """The server processes behind the connections idle in the pool (all checked out at once)."""
    connections = [engine.connect() for _ in range(engine.pool.checkedin())]
    try:
        return {connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() for connection in connections}
    finally:
        for connection in connections:
            connection.close()


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


def test_a_busy_process_keeps_its_connections_instead_of_reopening_them(app, db):
    """A process's send workers and request threads all use the database at once; when they
    do it again, PostgreSQL starts no new server process (SQLAlchemy's default pool of 5 kept
    only 5 and closed the rest on return)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection is a file handle, not a server process")
    busy = app.config["TOCSIN_SEND_WORKERS"] + 4  # send workers and gunicorn's default 4 threads

    def all_at_once() -> set[int]:
        connections = [db.engine.connect() for _ in range(busy)]
        try:
            return {connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() for connection in connections}
        finally:
            for connection in connections:
                connection.close()

    first = all_at_once()
    assert all_at_once() == first and len(first) == busy


def test_the_pool_size_is_a_setting(tmp_path, database_uri):
    from tests.support.app import make_app
    from webapp.extensions import db

    app = make_app(tmp_path, database_uri, TOCSIN_DB_POOL_SIZE=3)
    with app.app_context():
        try:
            assert db.engine.pool.size() == 3
        finally:
            db.engine.dispose()


def test_rule_job_filters_choose_the_alerts_on_this_backend(api, db):
    """Globs (`*`, `?`, `[0-9]`), "every job" and an inactive rule, through the API: a
    matching active rule raises an alert for a known job's failed run, the others do not."""
    from webapp.models import Alert
    from webapp.services.delivery import pool

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
    assert pool.wait_idle(10)

    alerts = db.session.execute(sa.select(Alert.message)).scalars().all()
    assert sorted(message.split()[0] for message in alerts) == sorted(
        ["billing-eu", "billing-eu", "export-7", "export-7", "nightly-x"])  # "any" fires for every job


def test_a_report_that_writes_only_its_run_needs_no_transaction(api, db):
    """Most run reports write one row. That INSERT, and the reads before it, run outside any
    transaction, so PostgreSQL gets no BEGIN and no COMMIT for them (two round trips of six),
    and the run is stored once the response says 201. A report that raises an alert still
    writes run, alert and delivery in one transaction."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no round trips to save: pysqlite opens no transaction for reads anyway")
    from webapp.models import Alert, Delivery, Run
    from webapp.services.delivery import pool

    statements, commits = [], []
    request_thread = threading.get_ident()  # the test client serves requests on this thread; sends run on others

    def note_statement(connection, _cursor, statement, *_args):
        if threading.get_ident() != request_thread:
            return
        autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        statements.append((statement.split()[0].upper(), "autocommit" if autocommit else "transaction"))

    def note_commit(_connection):
        if threading.get_ident() == request_thread:
            commits.append(True)

    assert api.post("/runs", json={"job": "nightly", "status": "succeeded"}).status_code == 201  # creates the job
    sa.event.listen(db.engine, "before_cursor_execute", note_statement)
    sa.event.listen(db.engine, "commit", note_commit)
    try:
        response = api.post("/runs", json={"job": "nightly", "external_id": "b-2", "status": "failed"})
        assert response.status_code == 201
        assert statements == [("SELECT", "autocommit")] * 3 + [("INSERT", "autocommit")]  # key, job, rules, run
        assert commits == []
        with db.engine.connect() as other:
            assert other.scalar(sa.select(Run.status).where(Run.id == response.json["id"])) == "failed"

        endpoint = api.post("/endpoints", json={"name": "Receiver", "url": "http://127.0.0.1:9/hook"}).get_json()
        assert api.post("/rules", json={"name": "failures", "event": "run_failed", "endpoint_ids": [endpoint["id"]],
                                        "cooldown_seconds": 0}).status_code == 201
        statements.clear()
        commits.clear()
        assert api.post("/runs", json={"job": "nightly", "external_id": "b-3", "status": "failed"}).status_code == 201
        writes = [mode for verb, mode in statements if verb in ("INSERT", "UPDATE")]
        assert writes and set(writes) == {"transaction"} and len(commits) == 1
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note_statement)
        sa.event.remove(db.engine, "commit", note_commit)
        pool.wait_idle(10)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1
