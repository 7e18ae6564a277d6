"""The benchmark's databases: a fresh SQLite file or a fresh PostgreSQL schema (dropped at the
end), the in-process app that seeds and inspects them, and the seed rows themselves."""
import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

PASSWORD = "bench password, not secret"
EMAIL = "bench@example.com"


@dataclass
class Backend:
    """One database under test: the URL the server gets, and how to clean it up."""

    label: str  # "SQLite" | "PostgreSQL"
    url: str
    schema: str | None = None
    admin_url: str | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.schema is not None


def _with_options(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


def _normalise(url: str) -> str:
    from webapp.config import normalise_database_url

    return normalise_database_url(url)


@contextmanager
def backend(label: str, workdir: Path, postgres_url: str | None = None):
    """A fresh database for one suite; a PostgreSQL schema is dropped afterwards, even on error."""
    if postgres_url is None:
        yield Backend(label, f"sqlite:///{workdir / 'bench-sqlite.db'}")
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin_url = _normalise(postgres_url)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Backend(label, _with_options(admin_url, schema), schema, admin_url)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def make_app(backend: Backend, secret_key: str):
    """The app in the benchmark's own process: seeding, bulk inserts, the sweep, and reading results."""
    from webapp import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": _normalise(backend.url), "SECRET_KEY": secret_key,
        "TOCSIN_ENV": "production", "TOCSIN_SCHEDULER": False, "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TOCSIN_ENCRYPTION_KEY": "", "TOCSIN_METRICS_TOKEN": "",
    })


@dataclass
class Seed:
    """What the measurements need to know about the seeded rows."""

    workspace_id: int
    user_id: int
    api_key: str
    latency_jobs: int
    throughput_endpoint_ids: list[int]
    throughput_rule_id: int
    throughput_job_id: int
    history_endpoint_ids: list[int] = field(default_factory=list)
    history_rule_id: int | None = None
    history_job_id: int | None = None
    sweep_workspace_id: int | None = None
    sweep_job_ids: list[int] = field(default_factory=list)


def _endpoint(workspace_id: int, user_id: int, name: str, url: str):
    from webapp.models import Endpoint
    from webapp.services import crypto
    from webapp.services.signing import standard_webhooks

    return Endpoint(workspace_id=workspace_id, created_by_id=user_id, name=name, url=url, format="json",
                    timeout_seconds=10, is_active=True, headers_encrypted={},
                    secret_encrypted=crypto.encrypt(standard_webhooks.generate_secret()))


def _rule(workspace_id: int, user_id: int, name: str, job_filter: str, endpoints: list, *, active: bool = True):
    from webapp.models import Rule

    return Rule(workspace_id=workspace_id, name=name, event="run_failed", job_filter=job_filter,
                severity="critical", max_attempts=8, cooldown_seconds=0, is_active=active,
                created_by_id=user_id, endpoints=endpoints)


def latency_job(number: int) -> str:
    return f"latency-{number:02d}"


def seed(app, receiver_port: int, latency_jobs: int, throughput_endpoints: int) -> Seed:
    """A user with an API key. For the latency run, `latency_jobs` jobs each with its own
    `run_failed` rule (cooldown 0: every failed run raises an alert) and endpoint, so each
    endpoint stays far below its per-endpoint rate limit. For the throughput run,
    `throughput_endpoints` endpoints under one inactive rule (the bulk-inserted deliveries
    name it; being inactive, it never matches the ingestion run's reports)."""
    from webapp.extensions import db
    from webapp.models import Job
    from webapp.services import accounts

    with app.app_context():
        user = accounts.create_user(EMAIL, PASSWORD)
        workspace_id, user_id = user.workspace_id, user.id
        _, api_key = accounts.create_api_key(workspace_id=workspace_id, user_id=user_id, name="benchmark")
        receiver = f"http://127.0.0.1:{receiver_port}"
        for number in range(latency_jobs):
            endpoint = _endpoint(workspace_id, user_id, f"latency receiver {number:02d}", f"{receiver}/latency/{number}")
            db.session.add(_rule(workspace_id, user_id, f"{latency_job(number)} failed", latency_job(number),
                                 [endpoint]))
        throughput = [_endpoint(workspace_id, user_id, f"throughput receiver {number:03d}", f"{receiver}/tp/{number}")
                      for number in range(throughput_endpoints)]
        throughput_rule = _rule(workspace_id, user_id, "throughput (inactive)", "throughput-*", throughput,
                                active=False)
        throughput_job = Job(workspace_id=workspace_id, slug="throughput-job", name="throughput-job")
        db.session.add_all([throughput_rule, throughput_job])
        db.session.commit()
        result = Seed(workspace_id, user_id, api_key, latency_jobs, [endpoint.id for endpoint in throughput],
                      throughput_rule.id, throughput_job.id)
        db.session.remove()
    return result


def seed_bulk_owners(app, seed_rows: Seed, receiver_port: int, history_endpoints: int = 4, sweep_jobs: int = 10) -> None:
    """The rows the million-row tables hang off: endpoints and an inactive rule for the delivery
    history, and a second workspace without rules whose runs the deadline sweep reads."""
    from webapp.extensions import db
    from webapp.models import Job, Workspace

    with app.app_context():
        workspace_id, user_id = seed_rows.workspace_id, seed_rows.user_id
        endpoints = [_endpoint(workspace_id, user_id, f"history receiver {number}",
                               f"http://127.0.0.1:{receiver_port}/history/{number}")
                     for number in range(history_endpoints)]
        job = Job(workspace_id=workspace_id, slug="history-job", name="history-job")
        db.session.add_all([*endpoints, job])
        db.session.flush()
        rule = _rule(workspace_id, user_id, "history (inactive)", "history-*", endpoints, active=False)
        sweep_workspace = Workspace(name="sweep benchmark (no rules)")
        db.session.add_all([rule, sweep_workspace])
        db.session.flush()
        jobs = [Job(workspace_id=sweep_workspace.id, slug=f"sweep-job-{number}", name=f"sweep job {number}")
                for number in range(sweep_jobs)]
        db.session.add_all(jobs)
        db.session.commit()
        seed_rows.history_endpoint_ids = [endpoint.id for endpoint in endpoints]
        seed_rows.history_rule_id = rule.id
        seed_rows.history_job_id = job.id
        seed_rows.sweep_workspace_id = sweep_workspace.id
        seed_rows.sweep_job_ids = [job.id for job in jobs]
        db.session.remove()


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)
