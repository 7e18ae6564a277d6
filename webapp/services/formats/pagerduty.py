"""PagerDuty Events API v2 (`https://events.pagerduty.com/v2/enqueue`): one event per notification.

An alert is one PagerDuty incident: every event of it carries the dedup key
`tocsin-alert-<alert id>`, so `alert.fired` and `alert.repeated` trigger (PagerDuty folds a
repeat into the open incident) and `alert.resolved` resolves that same incident. The routing key
(the integration key of a PagerDuty service) is the credential: it is in the body, so the
history records the body with it masked (`recorded_body`).
"""
import json
from urllib.parse import urlsplit

from webapp.services.formats.base import MASKED_CREDENTIAL, Payload, PayloadError, dump, headline, truncate

LABEL = "PagerDuty (Events API v2)"
CREDENTIAL = "routing_key"
SUMMARY_LIMIT = 1024  # PagerDuty refuses a longer payload.summary
DEDUP_KEY_PREFIX = "tocsin-alert-"
SEVERITIES = ("critical", "warning", "info")  # Tocsin's; PagerDuty also knows "error"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    if not credential:
        raise PayloadError("PagerDuty needs a routing key: set the endpoint's routing key.")
    return Payload(dump(pagerduty_body(event_type, context, credential)), "application/json")


def dedup_key(context: dict) -> str:
    return f"{DEDUP_KEY_PREFIX}{context['alert']['id']}"


def pagerduty_body(event_type: str, context: dict, routing_key: str) -> dict:
    """The event: `trigger` for every notification but `alert.resolved`, which sends `resolve`."""
    alert, job, rule, run = context["alert"], context.get("job"), context.get("rule"), context.get("run")
    severity, message, url = headline(event_type, context)
    resolved = event_type == "alert.resolved"
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if resolved else "trigger",
        "dedup_key": dedup_key(context),
        "payload": {
            "summary": truncate(message, SUMMARY_LIMIT),
            "severity": severity if severity in SEVERITIES else "info",
            "source": source(context),
            "timestamp": (alert.get("resolved_at") if resolved else None) or alert.get("created_at"),
            "custom_details": {
                "message": message, "alert_type": alert["type"], "state": alert.get("state"),
                "repeat_count": alert.get("repeat_count"), "job": job, "rule": rule, "run": run,
                "workspace": (context.get("workspace") or {}).get("name"),
            },
        },
        "links": [{"href": url, "text": "View in Tocsin"}] if url else [],
    }


def source(context: dict) -> str:
    """What PagerDuty shows as the affected system: the job's slug, else Tocsin's host."""
    job = context.get("job")
    if job and job.get("slug"):
        return job["slug"]
    return urlsplit(context["alert"].get("url") or "").hostname or "tocsin"


def recorded_body(body: bytes) -> bytes:
    """The body with its routing key masked, for the delivery history."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and "routing_key" in document:
        document["routing_key"] = MASKED_CREDENTIAL
    return dump(document)
