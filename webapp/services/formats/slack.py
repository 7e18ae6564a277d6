"""Slack incoming webhooks: `text` for notifications, `blocks` for the message itself."""
from webapp.services.formats.base import (
    RESOLVED_COLOR,
    SEVERITY_SLACK_EMOJI,
    STAGE_WORDS,
    dump,
    headline,
    run_words,
    slack_escape,
)

LABEL = "Slack incoming webhook"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None) -> tuple[bytes, str]:
    return dump(slack_body(event_type, context)), "application/json"


def slack_body(event_type: str, context: dict) -> dict:
    """An incoming-webhook body: `text` for notifications, `blocks` for the message itself; a
    resolution is green (a Slack attachment's colour bar) and labelled "Resolved"."""
    severity, message, url = headline(event_type, context)
    emoji = SEVERITY_SLACK_EMOJI.get(severity, ":bell:")
    label = severity.upper()
    if event_type == "alert.resolved":
        emoji, label = ":large_green_circle:", "RESOLVED"
    elif event_type in STAGE_WORDS:
        label = f"{STAGE_WORDS[event_type].upper()} ({severity.upper()})"
    job = context.get("job") or {}
    job_words = f"Job `{slack_escape(job['slug'])}`" if job else "No job"
    body = {
        "text": f"{emoji} [{label.lower()}] {slack_escape(message)}",
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"{emoji} *{label}* {slack_escape(message)}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{job_words} · {slack_escape(run_words(context))}"},
                {"type": "mrkdwn", "text": f"<{url}|View in Tocsin>"},
            ]},
        ],
    }
    if event_type == "alert.resolved":
        resolved_at = context["alert"].get("resolved_at") or ""
        body["attachments"] = [{"color": f"#{RESOLVED_COLOR:06X}", "fallback": "Resolved",
                                "text": f"Resolved {resolved_at}".strip()}]
    return body
