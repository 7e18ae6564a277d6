"""Configuration from the environment: a development SECRET_KEY that survives restarts, a
production start-up that refuses to run without one, SQLite tuned for several writers, and
the usual PostgreSQL URL spellings accepted."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.config import load_config, normalise_database_url
from webapp.models import Membership

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A clean slate of Tocsin variables; the database in tmp_path unless a test says otherwise."""
    for name in list(os.environ):
        if name.startswith("TOCSIN_") or name in ("SECRET_KEY", "DATABASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tocsin.db'}")
    return monkeypatch


def test_development_generates_a_secret_key_once_in_the_instance_folder(environment, tmp_path):
    environment.setenv("TOCSIN_ENV", "development")
    instance = tmp_path / "instance"

    first = load_config(instance)["SECRET_KEY"]
    second = load_config(instance)["SECRET_KEY"]

    assert first and len(first) >= 32
    assert second == first
    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_each_fresh_instance_folder_gets_its_own_development_key(environment, tmp_path):
    environment.setenv("TOCSIN_ENV", "development")

    assert load_config(tmp_path / "one")["SECRET_KEY"] != load_config(tmp_path / "two")["SECRET_KEY"]


def test_an_explicit_secret_key_wins_and_writes_no_file(environment, tmp_path):
    environment.setenv("TOCSIN_ENV", "development")
    environment.setenv("SECRET_KEY", "from-the-environment")

    assert load_config(tmp_path / "instance")["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_production_never_invents_a_secret_key(environment, tmp_path):
    config = load_config(tmp_path / "instance")

    assert config["TOCSIN_ENV"] == "production"
    assert config["SECRET_KEY"] is None
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_unset_environment_uses_the_key_make_run_left_so_shell_commands_work(environment, tmp_path):
    environment.setenv("TOCSIN_ENV", "development")
    made_by_make_run = load_config(tmp_path / "instance")["SECRET_KEY"]
    environment.delenv("TOCSIN_ENV")

    config = load_config(tmp_path / "instance")

    assert config["TOCSIN_ENV"] == "development"
    assert config["SECRET_KEY"] == made_by_make_run


def test_explicit_production_ignores_the_development_key(environment, tmp_path):
    environment.setenv("TOCSIN_ENV", "development")
    load_config(tmp_path / "instance")
    environment.setenv("TOCSIN_ENV", "production")

    assert load_config(tmp_path / "instance")["SECRET_KEY"] is None


def test_database_url_defaults_to_a_sqlite_file_in_the_instance_folder(environment, tmp_path):
    environment.delenv("DATABASE_URL")

    config = load_config(tmp_path / "instance")

    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'tocsin.db'}"
    assert (tmp_path / "instance").is_dir()


@pytest.mark.parametrize("given, expected", [
    ("postgresql://tocsin:pw@db.internal:5432/tocsin", "postgresql+psycopg://tocsin:pw@db.internal:5432/tocsin"),
    ("postgres://tocsin@db.internal/tocsin", "postgresql+psycopg://tocsin@db.internal/tocsin"),
    ("postgresql+psycopg://tocsin@db.internal/tocsin", "postgresql+psycopg://tocsin@db.internal/tocsin"),
    ("sqlite:////var/lib/tocsin/tocsin.db", "sqlite:////var/lib/tocsin/tocsin.db"),
])
def test_postgresql_urls_are_normalised_to_psycopg_3(environment, tmp_path, given, expected):
    environment.setenv("DATABASE_URL", given)

    assert normalise_database_url(given) == expected
    assert load_config(tmp_path)["SQLALCHEMY_DATABASE_URI"] == expected


def test_settings_are_read_from_the_environment(environment, tmp_path):
    environment.setenv("TOCSIN_SCHEDULER", "on")
    environment.setenv("TOCSIN_BASE_URL", "https://tocsin.example.com/")
    environment.setenv("TOCSIN_RETRY_INTERVAL", "0.5")
    environment.setenv("TOCSIN_HISTORY_DAYS", "7")

    config = load_config(tmp_path)

    assert config["TOCSIN_SCHEDULER"] is True
    assert config["TOCSIN_BASE_URL"] == "https://tocsin.example.com"
    assert (config["TOCSIN_RETRY_INTERVAL"], config["TOCSIN_HISTORY_DAYS"]) == (0.5, 7)


def test_the_api_cache_is_on_outside_tests_and_only_ever_on_postgresql(environment, tmp_path):
    from tests.support.app import make_app
    from webapp.services import api_cache

    assert load_config(tmp_path)["TOCSIN_API_CACHE"] is True
    environment.setenv("TOCSIN_API_CACHE", "off")
    assert load_config(tmp_path)["TOCSIN_API_CACHE"] is False
    environment.setenv("TOCSIN_ENV", "testing")
    environment.delenv("TOCSIN_API_CACHE")
    assert load_config(tmp_path)["TOCSIN_API_CACHE"] is False

    sqlite_app = make_app(tmp_path, TOCSIN_API_CACHE=True)
    assert api_cache.EXTENSION not in sqlite_app.extensions  # SQLite: statements in process, nothing to save


def test_a_mistyped_number_names_the_variable(environment, tmp_path):
    environment.setenv("TOCSIN_HISTORY_DAYS", "thirty")

    with pytest.raises(ValueError, match="TOCSIN_HISTORY_DAYS must be an integer, got 'thirty'"):
        load_config(tmp_path)


def run_without_secret_key(command: list[str], tmp_path, **extra_env) -> subprocess.CompletedProcess:
    """Run a start-up command with a bare environment; whatever it starts is killed by group id."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": f"sqlite:///{tmp_path / 'tocsin.db'}",
           **extra_env}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def tocsin_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Tocsin:")]


def test_wsgi_refuses_to_load_without_secret_key_in_one_line(tmp_path):
    result = run_without_secret_key([sys.executable, "-c", "import wsgi"], tmp_path, TOCSIN_ENV="production")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert tocsin_lines(result.stderr) == [line for line in result.stderr.splitlines() if line.strip()]
    assert len(tocsin_lines(result.stderr)) == 1
    assert "SECRET_KEY is not set" in result.stderr


def test_gunicorn_refuses_to_start_without_secret_key_in_one_line(tmp_path):
    result = run_without_secret_key(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "wsgi:app"], tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(tocsin_lines(result.stderr)) == 1
    assert "SECRET_KEY is not set" in tocsin_lines(result.stderr)[0]


def test_gunicorn_config_check_passes_with_a_secret_key(tmp_path):
    result = run_without_secret_key(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app", "--check-config"], tmp_path,
        SECRET_KEY="a-long-random-string-for-this-test")

    assert result.returncode == 0, result.stderr
    assert tocsin_lines(result.stderr) == []


def pragma(db, name: str):
    return db.session.execute(sa.text(f"PRAGMA {name}")).scalar()


def test_sqlite_runs_in_wal_mode_with_busy_timeout_and_foreign_keys(db):
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "busy_timeout") >= 5000
    assert pragma(db, "foreign_keys") == 1


def test_every_new_sqlite_connection_gets_the_pragmas(db):
    db.session.remove()
    db.engine.dispose()

    with db.engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA busy_timeout")).scalar() >= 5000
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_sqlite_enforces_foreign_keys(db):
    db.session.add(Membership(user_id=424242, workspace_id=434343, role="owner"))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
