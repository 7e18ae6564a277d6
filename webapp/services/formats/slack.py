"""Slack incoming webhooks: `text` for notifications, `blocks` for the message itself."""
from webapp.services.formats.base import SEVERITY_SLACK_EMOJI, dump, headline, run_words, slack_escape

LABEL = "Slack incoming webhook"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None) -> tuple[bytes, str]:
    return dump(slack_body(event_type, context)), "application/json"


def slack_body(event_type: str, context: dict) -> dict:
    """An incoming-webhook body: `text` for notifications, `blocks` for the message itself."""
    severity, message, url = headline(event_type, context)
    emoji = SEVERITY_SLACK_EMOJI.get(severity, ":bell:")
    job = context.get("job") or {}
    job_words = f"Job `{slack_escape(job['slug'])}`" if job else "No job"
    return {
        "text": f"{emoji} [{severity}] {slack_escape(message)}",
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"{emoji} *{severity.upper()}* {slack_escape(message)}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{job_words} · {slack_escape(run_words(context))}"},
                {"type": "mrkdwn", "text": f"<{url}|View in Tocsin>"},
            ]},
        ],
    }
