"""`flask --app wsgi tocsin worker` as a real OS process on the test's database, for the claims
that are about processes (a SIGKILL mid-send, two workers sharing one queue)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from webapp.config import PROJECT_ROOT
from webapp.extensions import db
from webapp.models import SchedulerHeartbeat

WORKER_ENVIRONMENT = {
    "TOCSIN_ENV": "testing",
    "SECRET_KEY": "test-secret-key-not-for-production",  # the same as make_app: secrets decrypt
    "TOCSIN_ENCRYPTION_KEY": "",
    "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8",
    "TOCSIN_BASE_URL": "http://tocsin.test",
    "TOCSIN_SCHEDULER": "off",  # the worker command starts it regardless
    "TOCSIN_RETRY_INTERVAL": "0.2",
    "TOCSIN_SWEEP_INTERVAL": "0.5",
    "TOCSIN_HEARTBEAT_INTERVAL": "0.5",
    "TOCSIN_RETRY_SCALE": "0.01",
    "TOCSIN_LEASE_MARGIN": "0.5",
}


class WorkerProcess:
    """One worker process; its output goes to a log file shown when a test fails."""

    def __init__(self, database_url: str, log_path: Path, **settings):
        self.log_path = log_path
        environment = {**os.environ, **WORKER_ENVIRONMENT, "DATABASE_URL": database_url,
                       **{name: str(value) for name, value in settings.items()}}
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", "worker"],
            cwd=PROJECT_ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_beating(self, timeout: float = 30.0) -> None:
        """Block until this process's scheduler has written its heartbeat row (it is claiming)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.pid} exited with {self.process.returncode}:\n{self.output()}")
            found = db.session.scalar(sa.select(SchedulerHeartbeat.id).where(SchedulerHeartbeat.pid == self.pid))
            db.session.rollback()
            if found is not None:
                return
            time.sleep(0.05)
        raise AssertionError(f"worker {self.pid} never beat:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no graceful stop, no release of claims — as when a host dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers; always closes the log."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]


class Workers:
    """Every worker a test starts, all stopped at teardown (see the `workers` fixture)."""

    def __init__(self, database_url: str, directory: Path):
        self.database_url = database_url
        self.directory = directory
        self.started: list[WorkerProcess] = []

    def start(self, **settings) -> WorkerProcess:
        worker = WorkerProcess(self.database_url, self.directory / f"worker-{len(self.started) + 1}.log", **settings)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def output(self) -> str:
        return "\n".join(f"--- worker {worker.pid} ---\n{worker.output()}" for worker in self.started)
