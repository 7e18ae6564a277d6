"""What every payload format shares: its error type, what it builds (`Payload`), JSON
serialisation, cutting text to a receiver's limit, and the headline and run words a chat
message is made of."""
import json
from dataclasses import dataclass, field

SEVERITY_EMOJI = {"critical": "🔴", "warning": "⚠️", "info": "ℹ️"}
SEVERITY_SLACK_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
SEVERITY_COLOR = {"critical": 0xE01E5A, "warning": 0xECB22E, "info": 0x36A3E0}
RESOLVED_COLOR = 0x2EB67D  # green: the incident is over
# How a chat message names a notification after the first (alert.fired and alert.test say nothing).
STAGE_WORDS = {"alert.resolved": "Resolved", "alert.repeated": "Still firing"}


ELLIPSIS = "…"
MASKED_CREDENTIAL = "••••••"  # a credential as previews and the history show it


class PayloadError(ValueError):
    """A body that cannot be built (a template that fails); the message is shown to the user."""


@dataclass(frozen=True, slots=True)
class Payload:
    """What a format builds for one attempt: the body bytes (signed and sent as they are), their
    content type, and the headers the receiver reads besides the body (ntfy's Title, Priority…)."""

    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with "…" when cut, so a receiver gets a
    shortened message instead of refusing the whole request."""
    if len(text) <= limit:
        return text
    return text[:max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


def truncate_utf8(text: str, limit_bytes: int) -> str:
    """`text` cut to at most `limit_bytes` bytes of UTF-8 (never inside a character), ending with "…"
    when cut: for receivers whose limit counts bytes (ntfy, Teams)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit_bytes:
        return text
    room = max(limit_bytes - len(ELLIPSIS.encode("utf-8")), 0)
    return encoded[:room].decode("utf-8", errors="ignore") + ELLIPSIS


def dump(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def text_content_type(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def headline(event_type: str, context: dict) -> tuple[str, str, str]:
    alert = context["alert"]
    severity = alert.get("severity") or "info"
    prefix = "Test alert: " if event_type == "alert.test" and not alert["message"].startswith("Test") else ""
    return severity, prefix + alert["message"], alert.get("url") or ""


def run_words(context: dict) -> str:
    run = context.get("run")
    if not run:
        return "no run"
    return f"run {run.get('external_id') or run['id']} ({run['status']})"


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters; also stops `<!channel>` smuggled in a job message."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
