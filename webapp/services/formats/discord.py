"""Discord webhooks: `content` plus one embed; mentions in messages never ping."""
from webapp.services.formats.base import SEVERITY_COLOR, SEVERITY_EMOJI, dump, headline, run_words

LABEL = "Discord webhook"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None) -> tuple[bytes, str]:
    return dump(discord_body(event_type, context, timestamp)), "application/json"


def discord_body(event_type: str, context: dict, timestamp: str) -> dict:
    """A Discord webhook body: `content` plus one embed; mentions in messages never ping."""
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
    return {
        "content": f"{SEVERITY_EMOJI.get(severity, '🔔')} **{severity.upper()}** {message}"[:2000],
        "embeds": [{"title": title[:256], "description": message[:4096], "url": url,
                    "color": SEVERITY_COLOR.get(severity, 0x888888), "fields": fields, "timestamp": timestamp}],
        "allowed_mentions": {"parse": []},
    }
