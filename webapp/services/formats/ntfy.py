"""ntfy (https://ntfy.sh or a self-hosted server): POST to the topic's URL, the message as a
plain-text body and the rest in headers.

ntfy turns a message over 4,096 bytes into an attachment (or refuses it when the server has
attachments off), so the body is cut to that with "…". Header values cannot hold line breaks and
HTTP sends them as Latin-1: text outside ASCII goes as an RFC 2047 encoded word
(`=?UTF-8?B?…?=`), which ntfy decodes. The access token, if any, is the `Authorization: Bearer`
header (masked in the history like every credential).
"""
import base64
import re

from webapp.services.formats.base import STAGE_WORDS, Payload, headline, truncate, truncate_utf8

LABEL = "ntfy"
CREDENTIAL = "access_token"
HEADERS_IN_CLEAR = ("Title", "Priority", "Tags", "Click")
MESSAGE_BYTES_LIMIT = 4096
TITLE_LIMIT = 200  # characters; a header, not a message
PRIORITIES = {"critical": 5, "warning": 4, "info": 3}
RESOLVED_PRIORITY = 3  # ntfy's default: a resolution should not wake anyone with a max-priority buzz
# ntfy shows a tag that is an emoji short code as that emoji, in front of the title.
SEVERITY_TAGS = {"critical": "rotating_light", "warning": "warning", "info": "information_source"}
RESOLVED_TAG = "white_check_mark"
_LINE_BREAKS = re.compile(r"[\r\n\t]+")


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    message = headline(event_type, context)[1]
    headers = {name: header_text(value) for name, value in ntfy_headers(event_type, context).items()}
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return Payload(truncate_utf8(message, MESSAGE_BYTES_LIMIT).encode("utf-8"), "text/plain; charset=utf-8",
                   headers)


def ntfy_headers(event_type: str, context: dict) -> dict[str, str]:
    """Title, Priority, Tags and Click in clear text (before header encoding)."""
    severity, _, url = headline(event_type, context)
    alert, job = context["alert"], context.get("job")
    resolved = event_type == "alert.resolved"
    stage = STAGE_WORDS.get(event_type) or severity.capitalize()
    title = f"{stage}: {alert['type']} of {job['name'] or job['slug']}" if job else f"{stage}: {alert['type']}"
    tags = [RESOLVED_TAG if resolved else SEVERITY_TAGS.get(severity, "bell"), "tocsin", alert["type"]]
    if job:
        tags.append(job["slug"])
    headers = {
        "Title": truncate(title, TITLE_LIMIT),
        "Priority": str(RESOLVED_PRIORITY if resolved else PRIORITIES.get(severity, 3)),
        "Tags": ",".join(tag.replace(",", " ") for tag in tags),
    }
    if url:
        headers["Click"] = url
    return headers


def header_text(value: str) -> str:
    """One line of header text: line breaks become spaces, non-ASCII an RFC 2047 encoded word."""
    value = _LINE_BREAKS.sub(" ", value).strip()
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="
