"""Slack incoming webhooks: `text` for notifications, `blocks` for the message itself.

Slack refuses a section or context text over 3,000 characters (`invalid_blocks`), so every text
is cut to that with "…" after escaping (the escaped text is what Slack counts)."""
import re

from webapp.services.formats.base import (
    ELLIPSIS,
    RESOLVED_COLOR,
    SEVERITY_SLACK_EMOJI,
    STAGE_WORDS,
    Payload,
    dump,
    headline,
    run_words,
    slack_escape,
)

LABEL = "Slack incoming webhook"
SECTION_TEXT_LIMIT = 3000  # a section block's text, and each context element's
FALLBACK_TEXT_LIMIT = 3000  # the top-level `text` (notifications); Slack advises at most 4,000
_CUT_ENTITY = re.compile(r"&[a-z]{0,3}$")  # "&am" left at the end of a cut "&amp;"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    return Payload(dump(slack_body(event_type, context)), "application/json")


def fit(prefix: str, text: str, limit: int) -> str:
    """`prefix` + `text` escaped for mrkdwn, at most `limit` characters: the text is cut with "…",
    never inside an escaped `&amp;`."""
    escaped = slack_escape(text)
    if len(prefix) + len(escaped) <= limit:
        return prefix + escaped
    room = max(limit - len(prefix) - len(ELLIPSIS), 0)
    return prefix + _CUT_ENTITY.sub("", escaped[:room]) + ELLIPSIS


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
        "text": fit(f"{emoji} [{label.lower()}] ", message, FALLBACK_TEXT_LIMIT),
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": fit(f"{emoji} *{label}* ", message, SECTION_TEXT_LIMIT)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": fit(f"{job_words} · ", run_words(context), SECTION_TEXT_LIMIT)},
                {"type": "mrkdwn", "text": f"<{url}|View in Tocsin>"},
            ]},
        ],
    }
    if event_type == "alert.resolved":
        resolved_at = context["alert"].get("resolved_at") or ""
        body["attachments"] = [{"color": f"#{RESOLVED_COLOR:06X}", "fallback": "Resolved",
                                "text": f"Resolved {resolved_at}".strip()}]
    return body
