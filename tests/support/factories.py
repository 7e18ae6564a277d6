"""Rows for tests, written directly so a test need not go through the pages to set up
(cookiecutter-flask's factories.py, as plain functions).

`make_*` rows are flushed into the test's open transaction: the engine tests commit when they
are ready. `saved_*` rows are committed at once, for page and API tests whose requests, send
threads and workers must see them.
"""
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, Delivery, DeliveryAttempt, Endpoint, Job, Rule, Run, User, Workspace
from webapp.services import crypto
from webapp.services.signing import standard_webhooks
from webapp.timeutil import utcnow

# --- lookups --------------------------------------------------------------------------------------


def workspace_id_of(email: str = "owner@example.com") -> int:
    """The workspace of a user who signed up through the pages."""
    return db.session.scalar(sa.select(User).where(User.email == email)).workspace_id


def job_of(workspace_id: int, slug: str) -> Job:
    """The job `slug` of the workspace, created (flushed) the first time it is asked for."""
    job = db.session.scalar(sa.select(Job).where(Job.workspace_id == workspace_id, Job.slug == slug))
    if job is None:
        job = Job(workspace_id=workspace_id, slug=slug, name=slug)
        db.session.add(job)
        db.session.flush()
    return job


# --- flushed rows, for the delivery engine ---------------------------------------------------------


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
    job = job_of(workspace_id, slug)
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


# --- committed rows, for the history, endpoint and API tests ---------------------------------------


def saved_endpoint(workspace_id, name="Ops hook", url="http://127.0.0.1:9/hook", **fields) -> Endpoint:
    endpoint = Endpoint(workspace_id=workspace_id, name=name, url=url, headers_encrypted={},
                        secret_encrypted=crypto.encrypt(standard_webhooks.generate_secret()), **fields)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def saved_rule(workspace_id, name="Nightly failures", **fields) -> Rule:
    rule = Rule(workspace_id=workspace_id, name=name, event="run_failed", **fields)
    db.session.add(rule)
    db.session.commit()
    return rule


def saved_alert(workspace_id, message="billing-nightly failed after 42 s: exit code 3", rule=None) -> Alert:
    alert = Alert(workspace_id=workspace_id, rule_id=rule.id if rule else None, type="run_failed",
                  severity="critical", message=message)
    db.session.add(alert)
    db.session.commit()
    return alert


def saved_delivery(endpoint, *, alert=None, rule=None, commit=True, **fields) -> Delivery:
    """A delivery, `delivered` unless told otherwise (added but not committed with commit=False)."""
    fields.setdefault("status", "delivered")
    delivery = Delivery(workspace_id=endpoint.workspace_id, endpoint_id=endpoint.id,
                        alert_id=alert.id if alert else None, rule_id=rule.id if rule else None, **fields)
    db.session.add(delivery)
    if commit:
        db.session.commit()
    return delivery


def saved_deliveries(endpoint, count, **fields) -> list[int]:
    """Insert `count` deliveries in one statement; returns their ids, oldest first."""
    now = utcnow()
    rows = [{"workspace_id": endpoint.workspace_id, "endpoint_id": endpoint.id, "status": "delivered",
             "message_id": f"msg_bulk{endpoint.id}x{index:06d}", "attempt_count": 1, "max_attempts": 8,
             "is_test": False, "created_at": now, "updated_at": now, **fields} for index in range(count)]
    db.session.execute(sa.insert(Delivery), rows)
    db.session.commit()
    return list(db.session.scalars(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id)
                                   .order_by(Delivery.id)))


def saved_attempt(delivery, number, http_status, outcome, **fields) -> DeliveryAttempt:
    attempt = DeliveryAttempt(workspace_id=delivery.workspace_id, delivery_id=delivery.id, number=number,
                              http_status=http_status, outcome=outcome, **fields)
    db.session.add(attempt)
    db.session.commit()
    return attempt


# --- through the API, for tests that need only an id ------------------------------------------------


def endpoint_id_via_api(api, name="Ops hook") -> int:
    """An endpoint made with POST /api/v1/endpoints (never sent to: port 9 is discard)."""
    response = api.post("/endpoints", json={"name": name, "url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]
