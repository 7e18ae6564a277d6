"""Discord webhooks: `content` plus one embed; mentions in messages never ping."""
from webapp.services.formats.base import (
    RESOLVED_COLOR,
    SEVERITY_COLOR,
    SEVERITY_EMOJI,
    STAGE_WORDS,
    dump,
    headline,
    run_words,
)

LABEL = "Discord webhook"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None) -> tuple[bytes, str]:
    return dump(discord_body(event_type, context, timestamp)), "application/json"


def discord_body(event_type: str, context: dict, timestamp: str) -> dict:
    """A Discord webhook body: `content` plus one embed; mentions in messages never ping. A
    resolution's embed is green and its title says "Resolved"."""
    severity, message, url = headline(event_type, context)
    job, run, rule = context.get("job"), context.get("run"), context.get("rule")
    fields = [{"name": "Severity", "value": severity, "inline": True}]
    if job:
        fields.append({"name": "Job", "value": job["slug"][:1024], "inline": True})
    if run:
        fields.append({"name": "Run", "value": run_words(context)[:1024], "inline": True})
    if rule:
        fields.append({"name": "Rule", "value": (rule["name"] or rule["id"])[:1024], "inline": True})
    title = f"{context['alert']['type']}: {job['name'] if job else 'Tocsin'}"
    emoji, label, color = SEVERITY_EMOJI.get(severity, "🔔"), severity.upper(), SEVERITY_COLOR.get(severity, 0x888888)
    if event_type == "alert.resolved":
        emoji, label, color = "✅", "RESOLVED", RESOLVED_COLOR
    elif event_type in STAGE_WORDS:
        emoji, label = "🔁", f"{STAGE_WORDS[event_type].upper()} ({severity.upper()})"
    if event_type in STAGE_WORDS:
        title = f"{STAGE_WORDS[event_type]}: {title}"
    return {
        "content": f"{emoji} **{label}** {message}"[:2000],
        "embeds": [{"title": title[:256], "description": message[:4096], "url": url,
                    "color": color, "fields": fields, "timestamp": timestamp}],
        "allowed_mentions": {"parse": []},
    }
