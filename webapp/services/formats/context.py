"""The `data` object of DESIGN.md's payload schema, shared by every format: IDs and summaries only.

A real alert's context comes from its delivery snapshot (or the ORM alert, which has the same
attribute names); test sends and template previews use a realistic sample with every field filled.
"""
from datetime import timedelta

from flask import current_app

from webapp.models.rules import SYSTEM_EVENTS
from webapp.timeutil import isoformat, utcnow


def _id(value) -> str | None:
    return None if value is None else str(value)


def _base_url() -> str:
    return (current_app.config.get("TOCSIN_BASE_URL") or "").rstrip("/")


def alert_context(alert, workspace) -> dict:
    """The `data` object for a real alert: IDs and summaries only, never run metadata."""
    rule, job, run = alert.rule, alert.job, alert.run
    context = {
        "alert": {
            "id": str(alert.id), "type": alert.type, "severity": alert.severity, "message": alert.message,
            "repeat_count": alert.repeat_count, "created_at": isoformat(alert.created_at),
            "state": alert.state or "firing", "resolved_at": isoformat(alert.resolved_at),
            "url": f"{_base_url()}/alerts/{alert.id}",
        },
        "rule": {"id": str(rule.id), "name": rule.name} if rule else None,
        "job": {"slug": job.slug, "name": job.name} if job else None,
        "run": _run_summary(run) if run else None,
        "workspace": {"id": _id(alert.workspace_id), "name": workspace.name},
    }
    if alert.type in SYSTEM_EVENTS:  # what broke: {"event", "endpoint": {id, name}|null, "delivery_id", "detail"}
        context["system"] = (alert.alert_metadata or {}).get("system") or {
            "event": alert.type, "endpoint": None, "delivery_id": None, "detail": alert.message}
    return context


def _run_summary(run) -> dict:
    return {
        "id": str(run.id), "external_id": run.external_id, "status": run.status,
        "started_at": isoformat(run.started_at), "finished_at": isoformat(run.finished_at),
        "deadline_at": isoformat(run.deadline_at), "duration_ms": run.duration_ms,
    }


def sample_context(workspace, endpoint) -> dict:
    """A realistic `data` object for test sends and template previews (every field filled)."""
    now = utcnow().replace(microsecond=0)
    return {
        "alert": {
            "id": "0", "type": "alert.test", "severity": "critical",
            "message": "Test alert from Tocsin: billing-nightly failed after 42 s: exit code 3",
            "repeat_count": 1, "created_at": isoformat(now), "state": "firing", "resolved_at": None,
            "url": f"{_base_url()}/alerts",
        },
        "rule": {"id": "0", "name": "Nightly jobs failing"},
        "job": {"slug": "billing-nightly", "name": "Billing (nightly)"},
        "run": {
            "id": "0", "external_id": "gha-8812", "status": "failed",
            "started_at": isoformat(now - timedelta(seconds=42)), "finished_at": isoformat(now),
            "deadline_at": None, "duration_ms": 42000,
        },
        "workspace": {"id": _id(getattr(workspace, "id", None)) or "0",
                      "name": getattr(workspace, "name", None) or "Example workspace"},
    }


SAMPLE_RUN_METADATA = {"exit_code": 3, "host": "worker-1", "commit": "4f2c9e1"}
