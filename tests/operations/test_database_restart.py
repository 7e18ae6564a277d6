"""A PostgreSQL restart mid-run: while the server is down Tocsin answers 503 JSON with
Retry-After (never 500), it reconnects by itself, and no alert accepted before, during or after
the restart is lost or sent twice. The test makes its own throw-away cluster (initdb / pg_ctl),
so the machine's server is left alone; the unit tests below point the app at a closed port."""
import logging
import sqlite3

import pytest
import sqlalchemy as sa

from tests.support import postgres_cluster
from tests.support.app import make_app
from tests.support.gunicorn import free_port
from webapp import create_app
from webapp.database_errors import describe, is_database_unavailable


@pytest.fixture
def unreachable_app(tmp_path):
    """The app on a PostgreSQL URL whose port nobody listens on (connection refused at once)."""
    return create_app({
        "TESTING": True, "TOCSIN_ENV": "testing", "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://tocsin:hunter2-secret@127.0.0.1:{free_port()}/tocsin",
        "TOCSIN_SCHEDULER": False, "WTF_CSRF_ENABLED": False,
    })


def test_api_answers_503_json_with_retry_after_while_the_database_is_unreachable(unreachable_app, caplog):
    caplog.set_level(logging.WARNING)
    response = unreachable_app.test_client().post("/api/v1/runs", json={"job": "nightly", "status": "failed"},
                                                  headers={"Authorization": "Bearer tcs_whatever"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    # Only the request's own line: a scheduler thread left by another test may log its own.
    warnings = [record for record in caplog.records
                if record.name == "webapp.errors" and "database unavailable" in record.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "hunter2" not in caplog.text
    print(f"503 {response.get_json()['error']['code']}, Retry-After {response.headers['Retry-After']}; "
          f"log: {warnings[0].getMessage()}")


def test_pages_answer_a_plain_503_page_and_healthz_says_the_database_is_down(unreachable_app):
    client = unreachable_app.test_client()
    page = client.post("/login", data={"email": "owner@example.com", "password": "a long password"})
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert b"Service unavailable" in page.data and b"Traceback" not in page.data
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == "unreachable"
    print(f"login page {page.status_code}, /healthz {health.status_code} {health.get_json()}")


def test_only_outages_count_as_the_database_being_unavailable():
    def operational(message: str) -> sa.exc.OperationalError:
        return sa.exc.OperationalError("UPDATE delivery SET …", {"token": "secret"}, sqlite3.OperationalError(message))

    assert is_database_unavailable(operational("database is locked"))
    assert is_database_unavailable(sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"))
    assert is_database_unavailable(sa.exc.PendingRollbackError("Can't reconnect until invalid transaction is "
                                                               "rolled back", code="8s2b"))
    assert not is_database_unavailable(operational("no such table: delivery"))
    assert not is_database_unavailable(ValueError("a bug"))
    assert describe(operational("database is locked")) == "OperationalError: database is locked"
    assert "s3cret" not in describe(RuntimeError("could not connect to postgresql://tocsin:s3cret@db/tocsin"))


def test_a_sqlite_error_that_is_a_bug_is_still_a_500(tmp_path):
    app = make_app(tmp_path)

    @app.get("/broken")
    def broken():
        from webapp.extensions import db

        db.session.execute(sa.text("SELECT * FROM no_such_table"))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/broken").status_code == 500


@pytest.mark.skipif(postgres_cluster.missing_reason() is not None,
                    reason=postgres_cluster.missing_reason() or "")
def test_a_postgresql_restart_mid_run_loses_nothing_and_sends_nothing_twice(tmp_path):
    from tests.support.database_restart import run_restart_scenario

    figures = run_restart_scenario(tmp_path, before=3.0, down=4.0, after=4.0, per_client=5.0, held=3)
    print(figures.summary())

    statuses = figures.statuses
    assert statuses[500] == 0 and set(statuses) <= {201, 503}, statuses
    assert statuses[503] > 0 and statuses[201] > 0
    for answer in figures.answers:
        if answer.status == 503:
            assert answer.code == "database_unavailable" and int(answer.retry_after) > 0
    assert figures.answers_while_down() and all(answer.status == 503 for answer in figures.answers_while_down())
    assert [outage.health_status for outage in figures.outages] == [503]
    assert all(seconds is not None for seconds in figures.recovery_seconds())
    assert figures.lost == []
    assert figures.duplicates == 0
    assert figures.carried_over() >= figures.outages[0].held  # the held attempts, at least
    assert figures.carried_over_lost() == []
    assert set(figures.final_statuses) == {"delivered"}
    assert figures.attempts == sum(figures.final_statuses.values())  # one attempt each: none sent twice
    assert "database unavailable on POST /api/v1/runs" in figures.log  # one WARNING line per refused report
