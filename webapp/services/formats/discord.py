"""Discord webhooks: `content` plus one embed; mentions in messages never ping.

Discord refuses the whole message (400) when a part is over its limit, so each is cut with "…"
(the embed's parts together stay under its 6,000-character total too)."""
from webapp.services.formats.base import (
    RESOLVED_COLOR,
    SEVERITY_COLOR,
    SEVERITY_EMOJI,
    STAGE_WORDS,
    Payload,
    dump,
    headline,
    run_words,
    truncate,
)

LABEL = "Discord webhook"
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000  # title, description and every field's name and value together


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    return Payload(dump(discord_body(event_type, context, timestamp)), "application/json")


def discord_body(event_type: str, context: dict, timestamp: str) -> dict:
    """A Discord webhook body: `content` plus one embed; mentions in messages never ping. A
    resolution's embed is green and its title says "Resolved"."""
    severity, message, url = headline(event_type, context)
    job, run, rule = context.get("job"), context.get("run"), context.get("rule")
    fields = [{"name": "Severity", "value": severity, "inline": True}]
    if job:
        fields.append({"name": "Job", "value": truncate(job["slug"], FIELD_VALUE_LIMIT), "inline": True})
    if run:
        fields.append({"name": "Run", "value": truncate(run_words(context), FIELD_VALUE_LIMIT), "inline": True})
    if rule:
        fields.append({"name": "Rule", "value": truncate(rule["name"] or rule["id"], FIELD_VALUE_LIMIT),
                       "inline": True})
    title = f"{context['alert']['type']}: {job['name'] if job else 'Tocsin'}"
    emoji, label, color = SEVERITY_EMOJI.get(severity, "🔔"), severity.upper(), SEVERITY_COLOR.get(severity, 0x888888)
    if event_type == "alert.resolved":
        emoji, label, color = "✅", "RESOLVED", RESOLVED_COLOR
    elif event_type in STAGE_WORDS:
        emoji, label = "🔁", f"{STAGE_WORDS[event_type].upper()} ({severity.upper()})"
    if event_type in STAGE_WORDS:
        title = f"{STAGE_WORDS[event_type]}: {title}"
    title = truncate(title, EMBED_TITLE_LIMIT)
    used = len(title) + sum(len(field["name"]) + len(field["value"]) for field in fields)
    return {
        "content": truncate(f"{emoji} **{label}** {message}", CONTENT_LIMIT),
        "embeds": [{"title": title,
                    "description": truncate(message, min(EMBED_DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - used)),
                    "url": url,
                    "color": color, "fields": fields, "timestamp": timestamp}],
        "allowed_mentions": {"parse": []},
    }
