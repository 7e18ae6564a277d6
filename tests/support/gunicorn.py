"""Tocsin under real gunicorn, on a SQLite file (or a given database) migrated with `flask db upgrade`, for the tests
that are about several worker processes or gunicorn's own way of reading requests."""
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.app import make_app
from webapp.extensions import db

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-secret-key-not-for-production"  # make_app's, so rows seeded through it decrypt


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(tmp_path: Path, *, workers: int = 2, threads: int = 1, seed=None, database_uri: str | None = None,
             make_run: bool = False, worker: bool = False, **env):
    """Yield the base URL of gunicorn serving a fresh migrated database (a SQLite file, or the
    empty `database_uri`); `seed(app)` runs first in an app context on that database (create
    users, keys…). `make_run` starts it as `make run` does (`tocsin serve`: one worker of
    `threads` threads) instead of `gunicorn -c gunicorn.conf.py`; `worker` also starts a
    `tocsin worker` process beside it (the scheduler's own process)."""
    database_uri = database_uri or f"sqlite:///{tmp_path / 'tocsin.db'}"
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("TOCSIN_", "GUNICORN_", "PROMETHEUS_"))}
    environment.update({"TOCSIN_ENV": "production", "DATABASE_URL": database_uri, "SECRET_KEY": SECRET_KEY,
                        "TOCSIN_SCHEDULER": "off", "TOCSIN_BASE_URL": "http://127.0.0.1", **env})
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                   env=environment, check=True, capture_output=True, timeout=60)
    if seed is not None:
        app = make_app(tmp_path, database_uri)
        with app.app_context():
            seed(app)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "ab") as log:
        if make_run:
            command = [sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", "serve", "--port", str(port),
                       "--threads", str(threads)]
        else:
            command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                       "--workers", str(workers), "--threads", str(threads), "wsgi:app"]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=log,
                                   start_new_session=True)
        processes = [process]
        if worker:
            processes.append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", "worker"],
                                              cwd=REPO_ROOT, env=environment, stdout=log, stderr=log,
                                              start_new_session=True))
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(base_url + "/healthz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a loaded machine
                if process.poll() is not None:
                    raise RuntimeError("gunicorn exited:\n" + log_path.read_text(errors="replace")) from None
                time.sleep(0.1)
        yield base_url
    finally:
        for started in processes:
            try:
                os.killpg(started.pid, 9)
            except ProcessLookupError:
                pass
            started.wait(10)
