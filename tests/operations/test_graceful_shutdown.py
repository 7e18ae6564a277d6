"""Graceful shutdown of real processes: on SIGTERM a gunicorn worker or a
`tocsin worker` stops claiming, lets the attempts under way finish and gives the rest back, so
no delivery is lost, none is left `sending`, and no receiver sees a webhook-id twice.

Each test migrates a SQLite file with `flask db upgrade`, writes due deliveries into it, and
runs the processes against a loopback receiver that holds every request for a while.
"""
import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.support.app import make_app
from tests.support.factories import make_alert, make_deliveries, make_endpoint, make_workspace
from tests.support.gunicorn import free_port
from tests.support.receiver import Receiver, Response
from webapp.extensions import db
from webapp.models import Delivery

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-secret-key-not-for-production"  # make_app's: the endpoint secret is encrypted with it
HOLD_SECONDS = 1.5
DELIVERIES = 20  # five rounds of 4 held requests: a stop mid-way leaves some pending


class Deployment:
    """A migrated database with due deliveries, and the processes started against it."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.database_uri = f"sqlite:///{tmp_path / 'tocsin.db'}"
        self.processes: list[subprocess.Popen] = []
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith(("TOCSIN_", "PROMETHEUS_", "GUNICORN_"))}
        self.env.update(TOCSIN_ENV="production", DATABASE_URL=self.database_uri, SECRET_KEY=SECRET_KEY,
                        TOCSIN_ALLOWED_NETWORKS="127.0.0.0/8", TOCSIN_RETRY_INTERVAL="0.2",
                        TOCSIN_RETRY_SCALE="0.01", TOCSIN_SEND_WORKERS="4", TOCSIN_ENDPOINT_CONCURRENCY="4",
                        TOCSIN_ENDPOINT_RATE="50", TOCSIN_HEARTBEAT_INTERVAL="5")

    def migrate_and_fill(self, receiver_url: str) -> None:
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                       env=self.env, check=True, capture_output=True, timeout=60)
        app = make_app(self.tmp_path, self.database_uri)  # create_all is a no-op on the migrated file
        with app.app_context():
            endpoint, _ = make_endpoint(make_workspace(), receiver_url, timeout_seconds=5)
            make_deliveries(DELIVERIES, endpoint, make_alert(endpoint))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

    def start(self, name: str, command: list[str], **env) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115  (closed in stop_all)
        process = subprocess.Popen(command, cwd=REPO_ROOT, env={**self.env, **env}, stdout=log, stderr=log,
                                   start_new_session=True)
        process.log = log
        self.processes.append(process)
        return process

    def start_gunicorn(self, port: int, **env) -> subprocess.Popen:
        return self.start("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                                       f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "wsgi:app"],
                          **{"TOCSIN_SCHEDULER": "on", **env})

    def start_worker(self) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", "worker"])

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def deliveries(self) -> list[tuple[str, str, int]]:
        """(message id, status, attempt count) of every delivery, read with a fresh connection."""
        engine = sa.create_engine(self.database_uri)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(
                    sa.select(Delivery.message_id, Delivery.status, Delivery.attempt_count))]
        finally:
            engine.dispose()

    def stop_all(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the master and any worker it left behind
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(10)
            process.log.close()


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.stop_all()


@pytest.fixture
def slow_receiver():
    """Holds every request for HOLD_SECONDS before answering 200."""
    receiver = Receiver().start()
    receiver.default = Response(200, delay=HOLD_SECONDS)
    yield receiver
    receiver.stop()


def terminate(process: subprocess.Popen, name: str, deployment: Deployment) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(45) == 0, deployment.log(name)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not stop after SIGTERM:\n{deployment.log(name)}")


def assert_nothing_lost_or_sent_twice(deployment: Deployment, receiver: Receiver) -> set[str]:
    """Every request the receiver got is a delivered delivery sent once; the rest wait as pending."""
    seen = collections.Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert [message_id for message_id, count in seen.items() if count > 1] == []
    rows = deployment.deliveries()
    assert len(rows) == DELIVERIES
    assert [row for row in rows if row[1] == "sending"] == []
    delivered = {message_id for message_id, status, attempts in rows if status == "delivered" and attempts == 1}
    assert set(seen) == delivered
    assert all(status == "pending" and attempts == 0 for message_id, status, attempts in rows
               if message_id not in delivered)
    return delivered


def finish_with_a_worker(deployment: Deployment, receiver: Receiver) -> None:
    """A fresh `tocsin worker` sends everything still pending, each delivery exactly once."""
    receiver.default = Response(200)
    worker = deployment.start_worker()
    receiver.wait_for(DELIVERIES, timeout=30)
    terminate(worker, "worker", deployment)
    assert assert_nothing_lost_or_sent_twice(deployment, receiver) == {row[0] for row in deployment.deliveries()}


def test_gunicorn_on_sigterm_finishes_attempts_in_flight_and_leaves_the_rest_pending(deployment, slow_receiver,
                                                                                     tmp_path):
    deployment.migrate_and_fill(slow_receiver.url())
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    gunicorn = deployment.start_gunicorn(port, TOCSIN_METRICS_TOKEN="scrape-me",
                                         PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))

    # A fifth request starts only after a first attempt finished: its outcome is recorded.
    slow_receiver.wait_for(5, timeout=30)
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer scrape-me"},
                           timeout=10)
    terminate(gunicorn, "gunicorn", deployment)

    assert metrics.status_code == 200  # the stale sample file was removed, not parsed
    assert 'tocsin_delivery_attempts_total{outcome="success"}' in metrics.text
    assert not (metrics_dir / "counter_99999.db").exists()
    assert any(path.name.startswith("counter_") for path in metrics_dir.iterdir())
    delivered = assert_nothing_lost_or_sent_twice(deployment, slow_receiver)
    assert 5 <= len(delivered) < DELIVERIES  # the one in flight at SIGTERM finished; the rest wait
    finish_with_a_worker(deployment, slow_receiver)


def test_tocsin_worker_on_sigterm_finishes_attempts_in_flight_and_leaves_the_rest_pending(deployment,
                                                                                          slow_receiver):
    deployment.migrate_and_fill(slow_receiver.url())
    worker = deployment.start_worker()

    slow_receiver.wait_for(3, timeout=30)
    terminate(worker, "worker", deployment)

    delivered = assert_nothing_lost_or_sent_twice(deployment, slow_receiver)
    assert 3 <= len(delivered) < DELIVERIES
    finish_with_a_worker(deployment, slow_receiver)


def wait_until_serving(url: str, process: subprocess.Popen, deployment: Deployment) -> requests.Response:
    """Poll until gunicorn answers (it boots in about a second)."""
    for _ in range(300):
        try:
            return requests.get(url, headers={"Authorization": "Bearer scrape-me"}, timeout=5)
        except requests.ConnectionError:
            try:
                process.wait(0.1)  # also notices a gunicorn that exited instead of serving
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"gunicorn exited:\n{deployment.log('gunicorn')}")
    pytest.fail("gunicorn never answered")


def test_gunicorn_without_a_metrics_dir_uses_a_temporary_one_and_removes_it_on_exit(deployment, slow_receiver,
                                                                                     tmp_path):
    deployment.migrate_and_fill(slow_receiver.url())
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    port = free_port()
    gunicorn = deployment.start_gunicorn(port, TOCSIN_SCHEDULER="off", TOCSIN_METRICS_TOKEN="scrape-me",
                                         TMPDIR=str(temp_root))

    metrics = wait_until_serving(f"http://127.0.0.1:{port}/metrics", gunicorn, deployment)
    made = [path.name for path in temp_root.iterdir() if path.name.startswith("tocsin-prometheus-")]
    terminate(gunicorn, "gunicorn", deployment)

    assert metrics.status_code == 200
    assert 'tocsin_delivery_queue_depth{state="pending"} 20.0' in metrics.text
    assert len(made) == 1
    assert not (temp_root / made[0]).exists()
