"""Microsoft Teams, through a Workflows incoming webhook ("Post to a channel when a webhook
request is received"): a message with one Adaptive Card 1.4 — a title, the alert's message,
facts (severity, job, run, rule) and a button to the alert.

Teams refuses a message over 28 KB, so while the serialised body is larger the longest text in
the card is cut with "…" (the message, usually).
"""
from webapp.services.formats.base import ELLIPSIS, STAGE_WORDS, Payload, dump, headline, run_words, truncate_utf8

LABEL = "Microsoft Teams (Workflows webhook)"
MESSAGE_BYTES_LIMIT = 28_000  # Teams' 28 KB, counted in bytes of the JSON body
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
# Adaptive Card text colours: by severity, green once resolved.
SEVERITY_COLORS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}
RESOLVED_COLOR = "Good"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    return Payload(dump(teams_body(event_type, context)), "application/json")


def teams_body(event_type: str, context: dict) -> dict:
    severity, message, url = headline(event_type, context)
    alert, job, rule = context["alert"], context.get("job"), context.get("rule")
    resolved = event_type == "alert.resolved"
    label = "Resolved" if resolved else STAGE_WORDS.get(event_type) or severity.capitalize()
    title = {"type": "TextBlock", "text": f"{label}: {alert['type']} of {job['name'] if job else 'Tocsin'}",
             "size": "Large", "weight": "Bolder", "wrap": True,
             "color": RESOLVED_COLOR if resolved else SEVERITY_COLORS.get(severity, "Default")}
    text = {"type": "TextBlock", "text": message, "wrap": True}
    facts = [{"title": "Severity", "value": severity}, {"title": "State", "value": alert.get("state") or "firing"}]
    if job:
        facts.append({"title": "Job", "value": job["slug"]})
    if context.get("run"):
        facts.append({"title": "Run", "value": run_words(context)})
    if rule:
        facts.append({"title": "Rule", "value": rule["name"] or rule["id"]})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": CARD_VERSION,
        "body": [title, text, {"type": "FactSet", "facts": facts}],
        "actions": [{"type": "Action.OpenUrl", "title": "View in Tocsin", "url": url}] if url else [],
    }
    body = {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None,
                                                "content": card}]}
    _shrink(body, [(title, "text"), (text, "text"), *((fact, "value") for fact in facts)])
    return body


def _shrink(body: dict, texts: list[tuple[dict, str]]) -> None:
    """Cut the longest of `texts` (in place) until the serialised body is within the limit."""
    while (overflow := len(dump(body)) - MESSAGE_BYTES_LIMIT) > 0:
        holder, key = max(texts, key=lambda text: len(text[0][text[1]].encode("utf-8")))
        size = len(holder[key].encode("utf-8"))
        if size <= len(ELLIPSIS.encode("utf-8")):
            return  # every text is already cut to nothing (the fixed parts alone never get this large)
        holder[key] = truncate_utf8(holder[key], min(size - overflow, size - 1))
