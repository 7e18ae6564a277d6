"""The API cache on PostgreSQL: a report of a known job costs one statement, and a revoked key, a
new rule or a changed job take effect at once, whichever process or SQL made the change."""
import threading
import time

import pytest
import sqlalchemy as sa

from tests.support.app import TEST_DATABASE_URL
from webapp.models import Alert, ApiKey, Job, Run
from webapp.services import api_cache
from webapp.services.delivery import pool

pytestmark = [
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="the API cache exists only on PostgreSQL (set TEST_DATABASE_URL)"),
    pytest.mark.parametrize("database_uri", ["postgresql"], indirect=True),
]


@pytest.fixture
def app_config():
    return {"TOCSIN_API_CACHE": True}


@pytest.fixture
def cache(app):
    cache = api_cache.current()
    cache.probe_seconds = 0.1  # stops within 0.1 s at teardown
    yield cache
    cache.stop()
    pool.wait_idle(10)


@pytest.fixture
def other_process(database_uri):
    """A connection of its own, as another host's or an administrator's would be."""
    engine = sa.create_engine(database_uri, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def wait_until(condition, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)
    return True


class StatementLog:
    """The statements the request thread sends (sends to receivers run on other threads)."""

    def __init__(self, engine):
        self.engine = engine
        self.thread = threading.get_ident()
        self.verbs: list[str] = []

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, _connection, _cursor, statement, *_args):
        if threading.get_ident() == self.thread:
            self.verbs.append(statement.split()[0].upper())


def warm(api, cache, job="nightly"):
    """Report until the key, the job and the rule filters are cached (the first probe is back)."""
    assert api.get("/me").status_code == 200  # the first lookup starts the listener
    wait_until(cache.trusted)
    for status in ("running", "succeeded", "failed"):
        assert api.post("/runs", json={"job": job, "status": status}).status_code == 201


def test_a_report_of_a_known_job_is_one_statement_once_cached(api, db, cache):
    warm(api, cache)
    with StatementLog(db.engine) as log:
        assert api.post("/runs", json={"job": "nightly", "external_id": "b-1"}).status_code == 201
        assert api.post("/runs", json={"job": "nightly", "external_id": "b-2", "status": "failed"}).status_code == 201
    assert log.verbs == ["INSERT", "INSERT"]  # no key, job or rule lookup

    again = api.post("/runs", json={"job": "nightly", "external_id": "b-2", "status": "failed"})
    assert again.status_code == 200 and again.json["status"] == "failed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Run)) == 5


def test_a_revoked_key_is_refused_at_once_by_a_process_that_cached_it(api, db, cache, other_process):
    warm(api, cache)
    other_process.execute(sa.update(ApiKey).values(revoked_at=sa.func.now()))

    assert wait_until(lambda: api.post("/runs", json={"job": "nightly"}).status_code == 401, seconds=1.0)
    assert api.get("/me").status_code == 401


def test_a_new_rule_applies_to_the_next_failed_report(api, db, cache):
    warm(api, cache)
    assert api.post("/runs", json={"job": "nightly", "status": "failed"}).status_code == 201  # no rule yet
    endpoint = api.post("/endpoints", json={"name": "Receiver", "url": "http://127.0.0.1:9/hook"}).get_json()
    assert api.post("/rules", json={"name": "failures", "event": "run_failed", "endpoint_ids": [endpoint["id"]],
                                    "cooldown_seconds": 0}).status_code == 201

    def alerted():
        api.post("/runs", json={"job": "nightly", "status": "failed"})
        return db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) > 0

    assert wait_until(alerted, seconds=1.0)


def test_a_job_changed_in_the_database_is_read_afresh(api, db, cache, other_process):
    warm(api, cache)
    other_process.execute(sa.update(Job).values(default_deadline_seconds=600))

    def deadline_applies():
        body = api.post("/runs", json={"job": "nightly"}).json
        return body["deadline_at"] is not None

    assert wait_until(deadline_applies, seconds=1.0)


def test_without_its_listener_the_cache_answers_nothing_until_it_hears_again(api, db, cache, other_process):
    warm(api, cache)
    listening = other_process.scalar(sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid"),
                                     {"pid": cache.listener_pid})
    assert listening == "LISTEN tocsin_cached_rows"
    other_process.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": cache.listener_pid})

    wait_until(lambda: not cache.trusted())
    with StatementLog(db.engine) as log:
        assert api.post("/runs", json={"job": "nightly"}).status_code == 201
    assert log.verbs[0] == "SELECT" and "INSERT" in log.verbs  # the key and the job read from the database

    wait_until(cache.trusted)  # listening again, on a new connection
    warm(api, cache)
    other_process.execute(sa.update(ApiKey).values(revoked_at=sa.func.now()))
    assert wait_until(lambda: api.post("/runs", json={"job": "nightly"}).status_code == 401, seconds=1.0)

