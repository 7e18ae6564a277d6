"""A throw-away PostgreSQL cluster of the test's own (Debian's `initdb` / `pg_ctl`), which a
test may stop and start at will, and Tocsin under real gunicorn on it.

The machine's own server (port 5432) is never touched: the cluster lives in a temporary
directory, listens on a free port of 127.0.0.1 and keeps its unix socket in that directory.
initdb refuses to run as root, so as root every command runs as the `postgres` OS user, who
owns the directory.
"""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.gunicorn import REPO_ROOT, SECRET_KEY, free_port

SERVER_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name)
                        if Path(path).parent.name.isdigit() else 0)
    for directory in reversed(candidates):
        if all(os.access(Path(directory) / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return Path(directory)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def missing_reason() -> str | None:
    """Why no cluster can be made here (for pytest.skip), or None."""
    if postgres_bin_dir() is None:
        return "initdb / pg_ctl not found (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user for initdb"
    return None


class PostgresCluster:
    """One cluster: `start()`, `stop()` (fast: sessions are terminated, as in a real restart)."""

    def __init__(self):
        self.bin = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="tocsin-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.as_user = SERVER_USER if os.geteuid() == 0 else None
        if self.as_user:
            account = pwd.getpwnam(self.as_user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 60) -> None:
        result = subprocess.run([str(self.bin / command[0]), *command[1:]], cwd=self.root, user=self.as_user,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}\n{self.server_log()}")

    def create(self) -> "PostgresCluster":
        """initdb (trust authentication: only this loopback port and this directory's socket)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c full_page_writes=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_cluster():
    """A created and started cluster; stopped and removed at the end, whatever happened."""
    cluster = PostgresCluster()
    try:
        cluster.create().start()
        yield cluster
    finally:
        cluster.destroy()


def server_environment(database_url: str, **env) -> dict:
    """The environment of `flask db upgrade` and gunicorn: production settings on `database_url`."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("TOCSIN_", "GUNICORN_", "PROMETHEUS_"))}
    environment.update(TOCSIN_ENV="production", DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY,
                       TOCSIN_ALLOWED_NETWORKS="127.0.0.0/8", TOCSIN_BASE_URL="http://127.0.0.1",
                       PYTHONUNBUFFERED="1", **{name: str(value) for name, value in env.items()})
    return environment


def migrate(environment: dict) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                   env=environment, check=True, capture_output=True, timeout=120)


@contextmanager
def gunicorn_on(environment: dict, log_path: Path, *, workers: int = 2, threads: int = 4):
    """Yield the base URL of gunicorn serving with `environment` (migrated beforehand); the
    process group is killed at the end."""
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                                    f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
                                    "wsgi:app"], cwd=REPO_ROOT, env=environment, stdout=log, stderr=log,
                                   start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base_url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        yield base_url
    finally:
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        process.wait(10)
