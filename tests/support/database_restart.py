"""The database-restart scenario, shared by tests/operations/test_database_restart.py (small) and
`make bench` (bench/faults_database.py, larger): Tocsin under gunicorn with its scheduler on a
throw-away PostgreSQL cluster, failed runs reported continuously while the cluster is stopped
(`pg_ctl stop -m fast`) and started again, every answer and every arrival recorded.

Before each stop the receiver holds a few requests open, and lets them go while the database is
down: those attempts are in flight across the stop and their outcomes can only be written once
it is back (the case where Tocsin used to send a delivery twice).
"""
import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

from tests.support.app import make_app
from tests.support.factories import make_endpoint, make_workspace
from tests.support.postgres_cluster import gunicorn_on, migrate, postgres_cluster, server_environment
from tests.support.receiver import Receiver
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Rule
from webapp.services import accounts

ENDPOINT_TIMEOUT = 5  # longer than a held request waits, so no attempt times out at Tocsin's end
SERVER_SETTINGS = {
    "TOCSIN_SCHEDULER": "on", "TOCSIN_RETRY_SCALE": "0.05", "TOCSIN_RETRY_INTERVAL": "0.5",
    "TOCSIN_SWEEP_INTERVAL": "1", "TOCSIN_HEARTBEAT_INTERVAL": "2",
    # A claim stranded by the stop (committed, never attempted) waits for its lease: 2 × 5 + 2 s.
    "TOCSIN_LEASE_MARGIN": "2", "TOCSIN_ENDPOINT_CONCURRENCY": "8", "TOCSIN_ENDPOINT_RATE": "100",
}


@dataclass
class Answer:
    external_id: str
    sent_at: float  # time.time()
    answered_at: float
    status: int | None  # None: no HTTP answer at all
    code: str | None = None
    retry_after: str | None = None


@dataclass
class Outage:
    stop_issued: float
    stopped: float  # pg_ctl stop returned
    start_issued: float
    ready: float  # pg_ctl start returned: accepting connections
    held: int = 0  # attempts in flight across the stop (held by the receiver)
    health_status: int | None = None  # GET /healthz while down
    unfinished: list[str] = field(default_factory=list)  # webhook-ids pending or sending at the stop


@dataclass
class RestartFigures:
    answers: list[Answer] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    arrivals: dict[str, list[str]] = field(default_factory=dict)  # external id → webhook-ids, in order
    first_arrival: dict[str, float] = field(default_factory=dict)  # external id → time.time()
    webhook_ids: collections.Counter = field(default_factory=collections.Counter)
    final_statuses: collections.Counter = field(default_factory=collections.Counter)
    attempts: int = 0
    drain_seconds: float = 0.0
    log: str = ""

    @property
    def statuses(self) -> collections.Counter:
        return collections.Counter(answer.status for answer in self.answers)

    @property
    def accepted(self) -> set[str]:
        return {answer.external_id for answer in self.answers if answer.status == 201}

    @property
    def lost(self) -> list[str]:
        return sorted(external_id for external_id in self.accepted if not self.arrivals.get(external_id))

    @property
    def duplicates(self) -> int:
        """Arrivals beyond the first, by webhook-id, plus runs that reached the receiver under two ids."""
        again = sum(times - 1 for times in self.webhook_ids.values())
        return again + sum(len(set(ids)) - 1 for ids in self.arrivals.values() if len(set(ids)) > 1)

    @property
    def committed_though_refused(self) -> int:
        """Runs answered 503 whose alert arrived anyway (the commit went through, its answer did not)."""
        refused = {answer.external_id for answer in self.answers if answer.status != 201}
        return len(refused & {external_id for external_id, ids in self.arrivals.items() if ids})

    def answers_while_down(self) -> list[Answer]:
        """Answers to requests sent after a stop finished and answered before the next start began."""
        return [answer for answer in self.answers for outage in self.outages
                if outage.stopped <= answer.sent_at and answer.answered_at <= outage.start_issued]

    def recovery_seconds(self) -> list[float | None]:
        """Per restart: from `pg_ctl start` to the first 201 sent after it (None: none came)."""
        result = []
        for outage in self.outages:
            firsts = [answer.answered_at for answer in self.answers
                      if answer.status == 201 and answer.sent_at >= outage.start_issued]
            result.append(min(firsts) - outage.start_issued if firsts else None)
        return result

    def carried_over(self) -> int:
        """Deliveries pending or in flight at a stop (each must arrive once, after it)."""
        return sum(len(outage.unfinished) for outage in self.outages)

    def carried_over_lost(self) -> list[str]:
        return [webhook_id for outage in self.outages for webhook_id in outage.unfinished
                if not self.webhook_ids[webhook_id]]

    def summary(self) -> str:
        statuses = self.statuses
        recoveries = ", ".join("none" if seconds is None else f"{seconds:.1f} s" for seconds in self.recovery_seconds())
        others = {status: count for status, count in statuses.items() if status not in (201, 503)}
        return (f"{len(self.answers)} reports: {statuses[201]} × 201, {statuses[503]} × 503"
                + (f", others {others}" if others else "") + f"; {len(self.outages)} restart(s), "
                f"{sum(outage.held for outage in self.outages)} attempts in flight across the stops, "
                f"{self.carried_over()} deliveries pending or in flight at the stops; recovery "
                f"(pg_ctl start → first 201): {recoveries}; lost {len(self.lost)}, duplicates {self.duplicates}, "
                f"{self.committed_though_refused} answered 503 but committed; {self.attempts} attempts for "
                f"{sum(self.final_statuses.values())} deliveries {dict(self.final_statuses)}; "
                f"drained {self.drain_seconds:.1f} s after the last report")


class Reporters:
    """`threads` clients, each reporting one failed run every 1/`per_client` s, recording every answer."""

    def __init__(self, base_url: str, api_key: str, *, threads: int = 1, per_client: float = 5.0):
        self.base_url, self.api_key, self.per_client = base_url, api_key, per_client
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(number,), daemon=True) for number in range(threads)]

    def __enter__(self) -> "Reporters":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.api_key}"
        sequence = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            sequence += 1
            external_id = f"restart-{number}-{sequence:05d}"
            sent_at = time.time()
            answer = Answer(external_id, sent_at, sent_at, None)
            try:
                response = session.post(f"{self.base_url}/api/v1/runs", timeout=15, json={
                    "job": "nightly-export", "external_id": external_id, "status": "failed",
                    "message": "exit code 3"})
                answer.status = response.status_code
                answer.retry_after = response.headers.get("Retry-After")
                if response.status_code >= 400:
                    answer.code = (response.json().get("error") or {}).get("code")
            except (requests.RequestException, ValueError) as error:
                answer.code = type(error).__name__
            answer.answered_at = time.time()
            with self.lock:
                self.answers.append(answer)
            next_at += 1 / self.per_client
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


def seed(work_dir: Path, database_url: str, receiver_url: str) -> str:
    """One workspace, an API key, an endpoint to the receiver and a run_failed rule (no
    cooldown: every failed run raises its own alert); returns the key."""
    app = make_app(work_dir, normalise_database_url(database_url))
    with app.app_context():
        workspace = make_workspace("Restart")
        endpoint, _ = make_endpoint(workspace, receiver_url, timeout_seconds=ENDPOINT_TIMEOUT)
        db.session.add(Rule(workspace_id=workspace.id, name="export failures", event="run_failed",
                            severity="critical", cooldown_seconds=0, endpoints=[endpoint]))
        _, api_key = accounts.create_api_key(workspace_id=workspace.id, user_id=None, name="restart test")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return api_key


def _unfinished(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(Delivery.message_id).where(Delivery.status.in_(("pending", "sending")))))


def _restart(cluster, receiver: Receiver, engine: sa.Engine, base_url: str, down_seconds: float,
             held: int) -> Outage:
    """Hold `held` attempts at the receiver, stop the cluster, let them go while it is down, start it."""
    already = len(receiver.requests)
    for _ in range(held):
        receiver.respond(200, delay=float("inf"))
    receiver.wait_for(already + held, timeout=30)
    unfinished = _unfinished(engine)
    stop_issued = time.time()
    cluster.stop("fast")
    stopped = time.time()
    time.sleep(min(1.0, down_seconds / 2))
    receiver.release.set()  # their outcomes meet a database that is down
    try:
        health_status = requests.get(base_url + "/healthz", timeout=15).status_code
    except requests.RequestException:
        health_status = None
    time.sleep(max(0.0, down_seconds - (time.time() - stopped)))
    receiver.release.clear()
    start_issued = time.time()
    cluster.start()
    return Outage(stop_issued, stopped, start_issued, time.time(), held, health_status, unfinished)


def _settled(engine: sa.Engine) -> collections.Counter:
    with engine.connect() as connection:
        return collections.Counter(dict(connection.execute(
            sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)).all()))


def _record_arrivals(figures: RestartFigures, receiver: Receiver) -> None:
    figures.arrivals.clear()
    figures.webhook_ids.clear()
    for request in list(receiver.requests):
        external_id = request.json()["data"]["run"]["external_id"]
        figures.arrivals.setdefault(external_id, []).append(request.headers["webhook-id"])
        figures.first_arrival.setdefault(external_id, request.received_at)
        figures.webhook_ids[request.headers["webhook-id"]] += 1


def run_restart_scenario(work_dir: Path, *, before: float = 3.0, down: float = 4.0, after: float = 4.0,
                         restarts: int = 1, clients: int = 1, per_client: float = 5.0, held: int = 3,
                         drain_timeout: float = 40.0, settings: dict | None = None) -> RestartFigures:
    """Run the scenario (the cluster, the server, the receiver all made here and removed after);
    `settings` override SERVER_SETTINGS."""
    figures = RestartFigures()
    receiver = Receiver().start()
    log_path = work_dir / "gunicorn.log"
    try:
        with postgres_cluster() as cluster:
            environment = server_environment(cluster.url, **{**SERVER_SETTINGS, **(settings or {})})
            migrate(environment)
            api_key = seed(work_dir, cluster.url, receiver.url())
            engine = sa.create_engine(normalise_database_url(cluster.url), poolclass=sa.pool.NullPool)
            try:
                with gunicorn_on(environment, log_path) as base_url:
                    with Reporters(base_url, api_key, threads=clients, per_client=per_client) as reporters:
                        time.sleep(before)
                        for _ in range(restarts):
                            figures.outages.append(_restart(cluster, receiver, engine, base_url, down, held))
                            time.sleep(after)
                    figures.answers = sorted(reporters.answers, key=lambda answer: answer.sent_at)
                    _drain(figures, receiver, engine, drain_timeout)
            finally:
                engine.dispose()
    finally:
        receiver.stop()
        figures.log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return figures


def _drain(figures: RestartFigures, receiver: Receiver, engine: sa.Engine, timeout: float) -> None:
    """Wait until every accepted run's alert arrived and no delivery is pending or sending."""
    started = time.monotonic()
    while True:
        _record_arrivals(figures, receiver)
        statuses = _settled(engine)
        settled = not figures.lost and not (statuses["pending"] or statuses["sending"])
        if settled or time.monotonic() - started > timeout:
            break
        time.sleep(0.2)
    figures.drain_seconds = time.monotonic() - started
    figures.final_statuses = statuses
    with engine.connect() as connection:
        figures.attempts = connection.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt))
