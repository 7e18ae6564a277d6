"""`flask --app wsgi tocsin check`: each problem an operator can leave behind is reported on its
own line with what to do, the exit code says whether any was found, a healthy instance passes,
and no key, secret or endpoint URL ever appears in what it prints.

The command runs as a real `flask` subprocess against the test's database, as an operator (or a
deploy script) runs it; each test changes one thing from a healthy instance.
"""
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask_migrate import upgrade

from tests.operations.test_migrations import logging_untouched  # noqa: F401
from tests.support.app import FreshGlobalsClient, app_settings
from webapp import create_app
from webapp.extensions import db
from webapp.models import Endpoint, SchedulerHeartbeat, Workspace
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"
ENDPOINT_URL = "https://hooks.slack.com/services/T000/B000/urltoken4242"
ENDPOINT_SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cy0xMjM0"


@pytest.fixture
def keys():
    """A healthy instance's keys: a long random SECRET_KEY and one Fernet key."""
    return {"SECRET_KEY": secrets.token_urlsafe(48), "TOCSIN_ENCRYPTION_KEY": Fernet.generate_key().decode()}


@pytest.fixture
def instance(tmp_path, database_uri, keys, logging_untouched):  # noqa: F811
    """The app on a database migrated to head (as `flask db upgrade` leaves it), no rows yet."""
    app = create_app(app_settings(tmp_path, database_uri, **keys))
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def add_endpoint() -> None:
    workspace = Workspace(name="Ops")
    db.session.add(workspace)
    db.session.flush()
    from webapp.services import crypto

    db.session.add(Endpoint(workspace_id=workspace.id, name="Slack", url=ENDPOINT_URL, headers_encrypted={
        "Authorization": crypto.encrypt("Bearer headertoken77")}, secret_encrypted=crypto.encrypt(ENDPOINT_SECRET)))
    db.session.commit()


def beat(seconds_ago: float = 0) -> None:
    moment = utcnow() - timedelta(seconds=seconds_ago)
    db.session.add(SchedulerHeartbeat(host="worker-1", pid=4242, started_at=moment, last_beat_at=moment))
    db.session.commit()


@pytest.fixture
def healthy(instance):
    add_endpoint()
    beat()
    return instance


def tocsin_check(database_uri: str, keys: dict, **environment) -> subprocess.CompletedProcess:
    """`flask --app wsgi tocsin check` in a new process with only these settings."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(REPO_ROOT), "TOCSIN_ENV": "production",
           "TOCSIN_BASE_URL": "https://tocsin.example.com", "DATABASE_URL": database_uri, **keys, **environment}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run([str(FLASK), "--app", "wsgi", "tocsin", "check"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def problems(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("PROBLEM: ")]


def assert_nothing_secret(result: subprocess.CompletedProcess, keys: dict, *more: str) -> None:
    printed = result.stdout + result.stderr
    for value in [*keys.values(), *more, ENDPOINT_URL, "urltoken4242", ENDPOINT_SECRET, "headertoken77"]:
        for part in (value or "").split(","):
            assert not part or part not in printed
    assert "Traceback" not in printed


def test_a_healthy_instance_passes_every_check(healthy, database_uri, keys):
    result = tocsin_check(database_uri, keys)

    assert result.returncode == 0, result.stdout + result.stderr
    assert problems(result) == []
    lines = result.stdout.splitlines()
    assert lines[-1] == "All checks passed."
    assert "ok: The database schema is up to date (revision 0020)." in lines
    assert any(line.startswith("ok: A scheduler is running") for line in lines)
    assert "ok: Every stored endpoint URL, secret and header decrypts (1 endpoint(s))." in lines
    assert_nothing_secret(result, keys)


def test_pending_migrations_are_reported_with_the_upgrade_command(tmp_path, database_uri, keys,
                                                                 logging_untouched):  # noqa: F811
    app = create_app(app_settings(tmp_path, database_uri, **keys))
    with app.app_context():
        upgrade(revision="0006")
        db.engine.dispose()

    result = tocsin_check(database_uri, keys)

    assert result.returncode == 1
    assert problems(result) == [
        "PROBLEM: The database is at revision 0006 but this version of Tocsin needs 0020 (14 migration(s) "
        "pending): back up, stop the web and worker processes, run `flask --app wsgi db upgrade`, start them "
        "again (docs/upgrading.md).",
        "PROBLEM: No scheduler has ever run against this database: start one with `flask --app wsgi tocsin "
        "worker` (or TOCSIN_SCHEDULER=on in one web process), else failed deliveries are never retried and "
        "missed runs never raise alerts."]
    assert result.stdout.splitlines()[-1] == "2 problem(s) found."


def test_a_database_without_tables_is_reported_not_a_traceback(database_uri, keys):
    result = tocsin_check(database_uri, keys)

    assert result.returncode == 1
    assert problems(result) == ["PROBLEM: The database has no Tocsin tables yet (no migration applied): run "
                                "`flask --app wsgi db upgrade` before starting Tocsin."]
    assert_nothing_secret(result, keys)


def test_an_unreachable_database_is_reported_not_a_traceback(keys):
    with_password = "postgresql://tocsin:dbpassw0rd@127.0.0.1:9/tocsin"  # port 9 (discard): nothing listens

    result = tocsin_check(with_password, keys)

    assert result.returncode == 1
    assert problems(result) == ["PROBLEM: The database does not answer (OperationalError): check DATABASE_URL "
                                "and that the database server is running."]
    assert "ok: SECRET_KEY is set and is not a development or well-known value." in result.stdout
    assert_nothing_secret(result, keys, "dbpassw0rd")


def test_a_missing_scheduler_is_reported(instance, database_uri, keys):
    add_endpoint()

    never = tocsin_check(database_uri, keys)
    beat(seconds_ago=600)
    stale = tocsin_check(database_uri, keys)

    assert never.returncode == stale.returncode == 1
    assert [line.split(":")[1] for line in problems(never)] == [" No scheduler has ever run against this database"]
    assert problems(stale) == [
        "PROBLEM: No scheduler heartbeat in the last 60 s (the last one, from host worker-1, was 10 min ago): start "
        "one with `flask --app wsgi tocsin worker` (or TOCSIN_SCHEDULER=on in one web process), else failed "
        "deliveries are never retried and missed runs never raise alerts."]


def test_an_encryption_key_that_is_not_a_fernet_key_is_reported_without_showing_it(healthy, database_uri, keys):
    typo = keys["TOCSIN_ENCRYPTION_KEY"][:-3] + "!!="

    result = tocsin_check(database_uri, keys, TOCSIN_ENCRYPTION_KEY=f"{typo},{keys['TOCSIN_ENCRYPTION_KEY']}")

    assert result.returncode == 1
    assert [line[:80] for line in problems(result)] == [
        "PROBLEM: TOCSIN_ENCRYPTION_KEY entry 1 of 2 is not a valid Fernet key (32 url-safe base64-encoded bytes)"[:80]]
    assert_nothing_secret(result, keys, typo)


def test_stored_secrets_that_no_configured_key_decrypts_are_reported_by_endpoint_id(healthy, database_uri, keys):
    """The key the rows were written with is gone (replaced, not listed after the new one)."""
    replaced = {**keys, "TOCSIN_ENCRYPTION_KEY": Fernet.generate_key().decode()}

    result = tocsin_check(database_uri, replaced)

    assert result.returncode == 1
    endpoint_id = db.session.scalar(sa.select(Endpoint.id))
    assert problems(result) == [
        f"PROBLEM: 1 of 1 endpoint(s) (id {endpoint_id}) store a URL, secret or header that no configured key "
        "decrypts: put the key they were written with back into TOCSIN_ENCRYPTION_KEY (after the newest key), "
        "or restore the SECRET_KEY they were written under."]
    assert_nothing_secret(result, replaced, keys["TOCSIN_ENCRYPTION_KEY"])

    listed_after = tocsin_check(database_uri, keys, TOCSIN_ENCRYPTION_KEY=(
        f"{replaced['TOCSIN_ENCRYPTION_KEY']},{keys['TOCSIN_ENCRYPTION_KEY']}"))
    assert listed_after.returncode == 0, listed_after.stdout


@pytest.mark.parametrize("secret_key, reason", [
    ("test-secret-key-not-for-production", "is a well-known placeholder or test value"),
    ("ChangeMe", "is a well-known placeholder or test value"),
    ("0123456789abcdef0123", "is only 20 characters (at least 32)"),
])
def test_a_guessable_secret_key_is_reported(healthy, database_uri, keys, secret_key, reason):
    result = tocsin_check(database_uri, keys, SECRET_KEY=secret_key)

    assert result.returncode == 1
    assert [line.split(":")[1] for line in problems(result)] == [f" SECRET_KEY {reason}"]
    assert_nothing_secret(result, {"SECRET_KEY": secret_key})


def test_the_development_key_make_run_generated_is_reported(healthy, tmp_path):
    """In process: the key file lives in the app's instance folder, here a temporary one."""
    development_key = secrets.token_urlsafe(48)
    (tmp_path / "secret_key").write_text(development_key + "\n")
    healthy.instance_path = str(tmp_path)
    healthy.config["SECRET_KEY"] = development_key

    result = healthy.test_cli_runner().invoke(args=["tocsin", "check"])

    assert result.exit_code == 1
    assert [line.split(":")[1] for line in result.output.splitlines() if line.startswith("PROBLEM")] == [
        " SECRET_KEY is the development key `make run` generated into instance/secret_key"]
    assert development_key not in result.output


def test_changing_secret_key_as_docs_upgrading_says_keeps_stored_secrets_readable(instance, database_uri, keys):
    """Rows written under the key derived from SECRET_KEY (no TOCSIN_ENCRYPTION_KEY): a new SECRET_KEY
    alone cannot read them; listing the old derived key, made by docs/upgrading.md's one-liner, can."""
    old = {"SECRET_KEY": keys["SECRET_KEY"], "TOCSIN_ENCRYPTION_KEY": None}
    instance.config["TOCSIN_ENCRYPTION_KEY"] = ""
    add_endpoint()
    beat()
    assert tocsin_check(database_uri, old).returncode == 0
    one_liner = ("import os; from webapp.services.crypto import derive_key; "
                 "print(derive_key(os.environ[\"SECRET_KEY\"]).decode())")
    assert one_liner in (REPO_ROOT / "docs" / "upgrading.md").read_text()
    old_derived = subprocess.run([sys.executable, "-c", one_liner], cwd=REPO_ROOT, capture_output=True, text=True,
                                 env={"SECRET_KEY": old["SECRET_KEY"]}, check=True).stdout.strip()
    new_secret_key = secrets.token_urlsafe(48)

    alone = tocsin_check(database_uri, {"SECRET_KEY": new_secret_key})
    listed = tocsin_check(database_uri, {"SECRET_KEY": new_secret_key, "TOCSIN_ENCRYPTION_KEY": old_derived})

    assert alone.returncode == 1
    assert [line.split(":")[1] for line in problems(alone)] == [
        " 1 of 1 endpoint(s) (id 1) store a URL, secret or header that no configured key decrypts"]
    assert listed.returncode == 0, listed.stdout
    for result in (alone, listed):
        assert_nothing_secret(result, {**old, "derived": old_derived, "new": new_secret_key})
