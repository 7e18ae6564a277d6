"""What one attempt of a delivery needs, read in one query as plain values.

`delivery.request` builds, signs and records a request from these snapshots; the engine decides from
them whether to send at all. They carry the attribute names of the models they copy (the payload
renderer and the signer read `endpoint.template`, `alert.run.external_id`), but they are frozen plain
objects that no session tracks: loading the delivery with its endpoint, alert, run, rule, job and
workspace as ORM objects took 29 % of a sending worker's CPU.
"""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from webapp.database import autocommit_connection
from webapp.models import SYSTEM_EVENTS, Alert, Delivery, Endpoint, Job, Rule, Run, Workspace
from webapp.services import crypto


@dataclass(frozen=True, slots=True)
class WorkspaceSnapshot:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    id: int
    url_encrypted: str
    format: str
    template: str | None
    timeout_seconds: int
    secret_encrypted: str
    previous_secret_encrypted: str | None
    secret_rotated_at: datetime | None
    headers_encrypted: dict | None
    routing_key_encrypted: str | None  # the receiver's credential of a PagerDuty / ntfy endpoint
    access_token_encrypted: str | None
    is_active: bool
    disabled_reason: str | None
    failing_since: datetime | None
    deleted_at: datetime | None
    signature_scheme: str
    signature_header: str | None
    signature_header_prefix: str | None
    retry_delays_seconds: list | None  # the retry policy's delays (None: the default schedule)

    @property
    def url(self) -> str:
        """The URL in clear, as `Endpoint.url` (crypto.DecryptionError when no key reads it)."""
        return crypto.decrypt(self.url_encrypted)


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    id: int
    external_id: str | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    duration_ms: int | None
    run_metadata: dict | None


@dataclass(frozen=True, slots=True)
class AlertSnapshot:
    id: int
    workspace_id: int
    type: str
    severity: str
    message: str
    repeat_count: int
    created_at: datetime
    state: str
    resolved_at: datetime | None
    alert_metadata: dict | None  # a system alert's only (its `system` object): None for a run's alert
    rule: RuleSnapshot | None
    job: JobSnapshot | None
    run: RunSnapshot | None


@dataclass(frozen=True, slots=True)
class DeliverySnapshot:
    id: int
    workspace_id: int
    message_id: str
    is_test: bool
    event: str  # the payload type: alert.fired, alert.repeated, alert.resolved (alert.test for a test)
    status: str
    attempt_count: int
    max_attempts: int
    lease_until: datetime | None
    workspace: WorkspaceSnapshot
    endpoint: EndpointSnapshot
    alert: AlertSnapshot | None  # None for a test send, or when the alert was deleted


# The select list, in this order; each snapshot takes its own slice of the row.
_COLUMNS = {
    "delivery": (Delivery.id, Delivery.workspace_id, Delivery.message_id, Delivery.is_test, Delivery.event,
                 Delivery.status,
                 Delivery.attempt_count, Delivery.max_attempts, Delivery.lease_until),
    "endpoint": (Endpoint.id, Endpoint.url_encrypted, Endpoint.format, Endpoint.template, Endpoint.timeout_seconds,
                 Endpoint.secret_encrypted, Endpoint.previous_secret_encrypted, Endpoint.secret_rotated_at,
                 Endpoint.headers_encrypted, Endpoint.routing_key_encrypted, Endpoint.access_token_encrypted,
                 Endpoint.is_active, Endpoint.disabled_reason, Endpoint.failing_since,
                 Endpoint.deleted_at,
                 Endpoint.signature_scheme, Endpoint.signature_header, Endpoint.signature_header_prefix,
                 Endpoint.retry_delays_seconds),
    "alert": (Alert.id, Alert.workspace_id, Alert.type, Alert.severity, Alert.message, Alert.repeat_count,
              Alert.created_at, Alert.state, Alert.resolved_at,
              sa.case((Alert.type.in_(SYSTEM_EVENTS), Alert.alert_metadata), else_=sa.null())),
    "rule": (Rule.id, Rule.name),
    "job": (Job.slug, Job.name),
    "run": (Run.id, Run.external_id, Run.status, Run.started_at, Run.finished_at, Run.deadline_at,
            Run.duration_ms, Run.run_metadata),
    "workspace": (Workspace.id, Workspace.name),
}


def _slices(groups: dict) -> dict[str, slice]:
    slices, start = {}, 0
    for name, columns in groups.items():
        slices[name] = slice(start, start + len(columns))
        start += len(columns)
    return slices


_SPANS = _slices(_COLUMNS)

# Built once (the id is a bound parameter), like every hot statement: building a statement and
# its cache key per attempt costs more CPU than running it.
_LOAD = (sa.select(*(column for columns in _COLUMNS.values() for column in columns))
         .select_from(Delivery)
         .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
         .join(Workspace, Workspace.id == Delivery.workspace_id)
         .outerjoin(Alert, Alert.id == Delivery.alert_id)
         .outerjoin(Rule, Rule.id == Alert.rule_id)
         .outerjoin(Job, Job.id == Alert.job_id)
         .outerjoin(Run, Run.id == Alert.run_id)
         .where(Delivery.id == sa.bindparam("delivery_id")))


def load(delivery_id: int) -> DeliverySnapshot | None:
    """The delivery with everything its request needs, or None when it no longer exists.

    One statement, so on PostgreSQL it runs outside a transaction (`autocommit_connection`): no
    BEGIN and no ROLLBACK. That also keeps the statement's prepared plan, since psycopg forgets a
    connection's prepared statements at every ROLLBACK; planning this seven-table join afresh
    for each attempt was most of PostgreSQL's work per delivery."""
    row = autocommit_connection().execute(_LOAD, {"delivery_id": delivery_id}).first()
    return None if row is None else _snapshot(tuple(row))


def _snapshot(row: tuple) -> DeliverySnapshot:
    alert = None
    alert_values = row[_SPANS["alert"]]
    if alert_values[0] is not None:
        rule, job, run = row[_SPANS["rule"]], row[_SPANS["job"]], row[_SPANS["run"]]
        alert = AlertSnapshot(*alert_values,
                              rule=RuleSnapshot(*rule) if rule[0] is not None else None,
                              job=JobSnapshot(*job) if job[0] is not None else None,
                              run=RunSnapshot(*run) if run[0] is not None else None)
    return DeliverySnapshot(*row[_SPANS["delivery"]], workspace=WorkspaceSnapshot(*row[_SPANS["workspace"]]),
                            endpoint=EndpointSnapshot(*row[_SPANS["endpoint"]]), alert=alert)
