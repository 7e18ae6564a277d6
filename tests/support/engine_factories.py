"""Rows for delivery-engine tests: a workspace, endpoints pointing at the loopback receiver, and
alerts with pending deliveries — written directly, so engine tests do not depend on the pages."""
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, Delivery, Endpoint, Job, Rule, Run, Workspace
from webapp.services import crypto
from webapp.services.signing import standard_webhooks
from webapp.timeutil import utcnow


def make_workspace(name: str = "Engine tests") -> Workspace:
    workspace = Workspace(name=name)
    db.session.add(workspace)
    db.session.flush()
    return workspace


def make_endpoint(workspace: Workspace, url: str, *, timeout_seconds: int = 5, **fields) -> tuple[Endpoint, str]:
    """An endpoint and its clear signing secret."""
    secret = standard_webhooks.generate_secret()
    endpoint = Endpoint(workspace_id=workspace.id, name=fields.pop("name", "receiver"), url=url,
                        secret_encrypted=crypto.encrypt(secret), headers_encrypted={}, format="json",
                        timeout_seconds=timeout_seconds, **fields)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def make_alert(endpoint: Endpoint, *, max_attempts: int = 8, slug: str = "billing-nightly") -> Alert:
    """A failed run of a job, the rule it matched (sending to `endpoint`) and the alert it raised."""
    workspace_id = endpoint.workspace_id
    job = db.session.scalar(sa.select(Job).where(Job.workspace_id == workspace_id, Job.slug == slug))
    if job is None:
        job = Job(workspace_id=workspace_id, slug=slug, name=slug)
        db.session.add(job)
        db.session.flush()
    now = utcnow()
    run = Run(workspace_id=workspace_id, job_id=job.id, status="failed", started_at=now - timedelta(seconds=42),
              finished_at=now, duration_ms=42000, message="exit code 3")
    rule = Rule(workspace_id=workspace_id, name=f"{slug} fails", event="run_failed", severity="critical",
                max_attempts=max_attempts, endpoints=[endpoint])
    db.session.add_all([run, rule])
    db.session.flush()
    alert = Alert(workspace_id=workspace_id, rule_id=rule.id, job_id=job.id, run_id=run.id, type="run_failed",
                  severity="critical", message=f"{slug} failed after 42 s: exit code 3")
    db.session.add(alert)
    db.session.flush()
    return alert


def make_delivery(endpoint: Endpoint, alert: Alert | None = None, **fields) -> Delivery:
    """A pending delivery of `alert` (a new one when omitted), due now unless told otherwise."""
    alert = alert or make_alert(endpoint, max_attempts=fields.get("max_attempts", 8))
    fields.setdefault("max_attempts", alert.rule.max_attempts if alert.rule else 8)
    delivery = Delivery(workspace_id=endpoint.workspace_id, alert_id=alert.id, endpoint_id=endpoint.id,
                        rule_id=alert.rule_id, **fields)
    db.session.add(delivery)
    db.session.flush()
    return delivery


def make_deliveries(count: int, endpoint: Endpoint, alert: Alert, **fields) -> list[int]:
    """Many pending deliveries of one alert at once (bulk insert); returns their ids."""
    rows = [{"workspace_id": endpoint.workspace_id, "alert_id": alert.id, "endpoint_id": endpoint.id,
             "rule_id": alert.rule_id, "max_attempts": 8, "status": "pending", **fields} for _ in range(count)]
    db.session.execute(sa.insert(Delivery), rows)
    return list(db.session.scalars(
        sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id).order_by(Delivery.id)))
