"""`tocsin backup` while Tocsin serves a stream of run reports, then `tocsin restore` into a fresh
database: every row the backup saw is there, and the restored instance delivers the deliveries
that were still pending (to a real receiver on 127.0.0.1). SQLite (online backup API) and, when
TEST_DATABASE_URL is set, PostgreSQL (pg_dump / pg_restore into throw-away databases)."""
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.support.app import TEST_DATABASE_URL, make_app
from tests.support.gunicorn import REPO_ROOT, SECRET_KEY, gunicorn
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.models import Delivery
from webapp.services import accounts
from webapp.services.delivery import jobs as delivery_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

BACKENDS = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
ALERTS_BEFORE_THE_BACKUP = 4
# Compared whole between the source (at its end) and the restored copy: nothing writes them
# during the traffic.
STILL_TABLES = ("user", "workspace", "membership", "api_key", "endpoint", "rule", "rule_endpoint")


@pytest.fixture(params=BACKENDS)
def databases(request, tmp_path):
    """(source URL, empty target URL): two SQLite files, or two new PostgreSQL databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'restored.db'}"
        return
    admin = sa.create_engine(normalise_database_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    names = [f"tocsin_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server = normalise_database_url(TEST_DATABASE_URL).rsplit("/", 1)[0]
    try:
        yield tuple(f"{server}/{name}" for name in names)
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def tocsin(arguments: list[str], database_url: str, **env) -> subprocess.CompletedProcess:
    """`flask --app wsgi tocsin …` as an operator runs it, in production mode."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TOCSIN_")}
    environment.update({"TOCSIN_ENV": "production", "SECRET_KEY": SECRET_KEY, "DATABASE_URL": database_url,
                        "TOCSIN_BASE_URL": "https://tocsin.test", **env})
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", *arguments], cwd=REPO_ROOT,
                          env=environment, capture_output=True, text=True, timeout=300)


def seed_owner(keys):
    def seed(app):
        user = accounts.create_user("owner@example.com", "a long enough password")
        keys.append(accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="cron")[1])
    return seed


class Traffic:
    """Run reports posted one after another until stopped; the ids of those answered 201."""

    def __init__(self, base_url: str, key: str):
        self.base_url, self.headers = base_url, {"Authorization": f"Bearer {key}"}
        self.accepted: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with requests.Session() as session:
            number = 0
            while not self._stop.is_set():
                number += 1
                answer = session.post(self.base_url + "/api/v1/runs", headers=self.headers, timeout=30,
                                      json={"job": f"busy-{number % 7}", "status": "succeeded"})
                if answer.status_code == 201:
                    self.accepted.append(int(answer.json()["id"]))
                else:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, count: int):
        deadline = time.monotonic() + 60
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.accepted) >= count, self.failures[:3]


def rows(engine: sa.Engine, table: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(sa.table(table, *_columns(connection, table)))
                                                         .order_by(sa.text("1")))]


def _columns(connection, table):
    return [sa.column(column["name"]) for column in sa.inspect(connection).get_columns(table)]


def wait_until_pending_after_one_attempt(engine: sa.Engine, count: int) -> None:
    """The alerts' first attempts got the 503 and their outcome is written: pending, waiting."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
                Delivery.status == "pending", Delivery.attempt_count == 1))
        if waiting == count:
            return
        time.sleep(0.1)
    with engine.connect() as connection:
        seen = connection.execute(sa.select(Delivery.status, Delivery.attempt_count, Delivery.last_error)).all()
    raise AssertionError(f"{waiting} of {count} deliveries pending after their first attempt: {seen}")


def test_a_backup_during_live_traffic_restores_every_row_and_delivers_what_was_pending(databases, tmp_path,
                                                                                       receiver):
    source_url, target_url = databases
    for _ in range(ALERTS_BEFORE_THE_BACKUP):
        receiver.respond(503)  # the alerts raised before the backup wait for a retry
    keys: list[str] = []
    backup_file = tmp_path / "tocsin.backup"
    with gunicorn(tmp_path, workers=1, threads=4, database_uri=source_url, seed=seed_owner(keys),
                  TOCSIN_ALLOWED_NETWORKS="127.0.0.0/8") as base_url:
        headers = {"Authorization": f"Bearer {keys[0]}"}
        endpoint = requests.post(base_url + "/api/v1/endpoints", headers=headers, timeout=30,
                                 json={"name": "on call", "url": receiver.url()}).json()
        assert requests.post(base_url + "/api/v1/rules", headers=headers, timeout=30, json={
            "name": "failures", "event": "run_failed", "endpoint_ids": [endpoint["id"]],
            "cooldown_seconds": 0}).status_code == 201
        failed_runs = set()
        for number in range(ALERTS_BEFORE_THE_BACKUP):
            answer = requests.post(base_url + "/api/v1/runs", headers=headers, timeout=30,
                                   json={"job": f"export-{number}", "status": "failed"})
            assert answer.status_code == 201
            failed_runs.add(int(answer.json()["id"]))
        source = sa.create_engine(source_url, poolclass=sa.pool.NullPool)
        wait_until_pending_after_one_attempt(source, ALERTS_BEFORE_THE_BACKUP)

        with Traffic(base_url, keys[0]) as traffic:
            traffic.wait_for(20)
            before = set(traffic.accepted)
            made = tocsin(["backup", str(backup_file)], source_url)
            traffic.wait_for(len(before) + 20)  # reports still answered after the backup
        assert not traffic.failures, traffic.failures[:3]
        accepted = set(traffic.accepted)

    assert made.returncode == 0, made.stderr
    assert ("online backup API" if source_url.startswith("sqlite") else "pg_dump --format=custom") in made.stdout
    assert "encrypted" in made.stderr and "SECRET_KEY" in made.stderr  # the keys warning, said every time

    restored = tocsin(["restore", str(backup_file)], target_url)
    assert restored.returncode == 0, restored.stderr
    assert "The configured keys decrypt every restored endpoint (1)" in restored.stdout
    target = sa.create_engine(target_url, poolclass=sa.pool.NullPool)

    restored_runs = {row[0] for row in target.connect().execute(sa.text("SELECT id FROM run"))}
    assert failed_runs | before <= restored_runs  # every run answered before the backup began
    assert restored_runs - failed_runs <= accepted  # and nothing but runs that were answered
    for table in STILL_TABLES:
        assert rows(target, table) == rows(source, table), table
    assert rows(target, "delivery") == rows(source, "delivery")  # no report raised one after the first four

    # The restored Tocsin (same SECRET_KEY) sends what was waiting, once each.
    already = len(receiver.requests)
    app = make_app(tmp_path, target_url)
    with app.app_context():
        pending = db.session.scalars(sa.select(Delivery.message_id).where(Delivery.status == "pending")).all()
        assert len(pending) == ALERTS_BEFORE_THE_BACKUP
        db.session.execute(sa.update(Delivery).values(next_attempt_at=utcnow()))
        db.session.commit()
        delivery_jobs.retry_due_deliveries(app)
        assert pool.wait_idle(timeout=30)
        delivery_jobs.retry_due_deliveries(app)
        assert pool.wait_idle(timeout=30)
        sent = [request.headers["webhook-id"] for request in receiver.requests[already:]]
        assert sorted(sent) == sorted(pending)
        db.session.rollback()
        assert set(db.session.scalars(sa.select(Delivery.status))) == {"delivered"}
        db.session.remove()
        db.engine.dispose()
    source.dispose()
    target.dispose()


def test_restore_refuses_a_database_that_holds_data_and_changes_nothing(databases, tmp_path):
    source_url, target_url = databases
    backup_file = tmp_path / "tocsin.backup"
    _migrated_with_a_user(tmp_path, source_url, "first@example.com")
    _migrated_with_a_user(tmp_path, target_url, "other@example.com")
    assert tocsin(["backup", str(backup_file)], source_url).returncode == 0

    refused = tocsin(["restore", str(backup_file)], target_url)
    assert refused.returncode == 1
    assert "The database is not empty (1 user row(s), 1 workspace row(s))" in refused.stderr
    assert "Traceback" not in refused.stderr
    engine = sa.create_engine(target_url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        assert connection.scalar(sa.text('SELECT email FROM "user"')) == "other@example.com"
    engine.dispose()


def test_backup_and_restore_refuse_what_they_cannot_use(tmp_path):
    live = f"sqlite:///{tmp_path / 'live.db'}"
    _migrated_with_a_user(tmp_path, live, "first@example.com")
    existing = tmp_path / "already-there"
    existing.write_text("keep me")
    refused = tocsin(["backup", str(existing)], live)
    assert refused.returncode == 1 and "already exists" in refused.stderr and existing.read_text() == "keep me"

    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a backup at all")
    refused = tocsin(["restore", str(garbage)], f"sqlite:///{tmp_path / 'new.db'}")
    assert refused.returncode == 1 and "is not a Tocsin backup" in refused.stderr

    assert tocsin(["restore", str(tmp_path / "missing")], f"sqlite:///{tmp_path / 'new.db'}").returncode == 1


def test_a_restore_with_other_keys_says_the_endpoints_cannot_be_decrypted(tmp_path):
    live = f"sqlite:///{tmp_path / 'live.db'}"
    _migrated_with_a_user(tmp_path, live, "first@example.com")
    app = make_app(tmp_path, live)
    with app.app_context():
        from tests.support.factories import make_endpoint, make_workspace

        make_endpoint(make_workspace(), "https://hooks.example.com/T000/very-secret-token")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    backup_file = tmp_path / "tocsin.backup"
    assert tocsin(["backup", str(backup_file)], live).returncode == 0

    restored = tocsin(["restore", str(backup_file)], f"sqlite:///{tmp_path / 'new.db'}",
                      SECRET_KEY="another-secret-key-of-another-instance")
    assert restored.returncode == 0, restored.stderr
    assert "1 of 1 restored endpoint(s) store a URL, secret or header that the configured keys do not decrypt" \
        in restored.stderr
    assert "very-secret-token" not in restored.stdout + restored.stderr


def _migrated_with_a_user(tmp_path: Path, url: str, email: str) -> None:
    upgraded = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                              env={**os.environ, "TOCSIN_ENV": "production", "SECRET_KEY": SECRET_KEY,
                                   "DATABASE_URL": url}, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    app = make_app(tmp_path, url)
    with app.app_context():
        accounts.create_user(email, "a long enough password")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
