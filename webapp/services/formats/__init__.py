"""Payload formats, one module per format (as Healthchecks keeps one package per integration).

Each module has a `LABEL` (what the endpoint form shows) and
`build(event_type, context, *, timestamp, template, run_metadata, credential) -> Payload` (body
bytes, content type, and any headers the receiver reads besides the body), where `context` is
the `data` object of the payload schema (`formats.context`). A format that sends the receiver's
own credential names it in `CREDENTIAL` (`routing_key`, `access_token`: stored encrypted in the
endpoint's `<name>_encrypted` column); `HEADERS_IN_CLEAR` names the headers it sets that the
history may show; `recorded_body(body)` masks a credential inside the body for the history.
`FORMATS` is the one registry the endpoint form, the API and the request builder read. Every
body is serialised once; the request builder signs and sends exactly these bytes.
"""
from webapp.services import crypto
from webapp.services.formats import discord, json, ntfy, pagerduty, slack, teams, template
from webapp.services.formats.base import MASKED_CREDENTIAL, Payload, PayloadError
from webapp.services.formats.context import SAMPLE_RUN_METADATA, alert_context, sample_context
from webapp.timeutil import isoformat, utcnow

FORMATS = {"json": json, "slack": slack, "discord": discord, "template": template, "pagerduty": pagerduty,
           "ntfy": ntfy, "teams": teams}
DEFAULT_FORMAT = "json"

__all__ = ["FORMATS", "DEFAULT_FORMAT", "MASKED_CREDENTIAL", "Payload", "PayloadError", "SAMPLE_RUN_METADATA",
           "alert_context", "credential_name", "headers_in_clear", "labels", "recorded_body", "render",
           "sample_context"]


def labels() -> dict[str, str]:
    """{format name: label}, in the order the form lists them."""
    return {name: module.LABEL for name, module in FORMATS.items()}


def _module(payload_format: str | None):
    return FORMATS.get(payload_format, FORMATS[DEFAULT_FORMAT])


def credential_name(payload_format: str | None) -> str | None:
    """The receiver credential this format sends (`routing_key`, `access_token`), or None."""
    return getattr(_module(payload_format), "CREDENTIAL", None)


def stored_credential(endpoint) -> str | None:
    """The endpoint's credential for its format, decrypted (crypto.DecryptionError when no key reads it)."""
    name = credential_name(endpoint.format)
    token = getattr(endpoint, f"{name}_encrypted", None) if name else None
    return crypto.decrypt(token) if token else None


def render(endpoint, event_type: str, context: dict, *, run_metadata: dict | None = None,
           credential: str | None = None) -> Payload:
    """The attempt's payload in the endpoint's format. `run_metadata` is offered to templates only
    (as `run.metadata`): the built-in formats carry summaries, never metadata. `credential` is
    the receiver's credential in clear; by default the endpoint's stored one (the preview passes
    a mask instead)."""
    timestamp = isoformat(utcnow().replace(microsecond=0))
    module = _module(endpoint.format)
    if credential is None and getattr(module, "CREDENTIAL", None):
        credential = stored_credential(endpoint)
    return module.build(event_type, context, timestamp=timestamp, template=endpoint.template,
                        run_metadata=run_metadata, credential=credential)


def headers_in_clear(payload_format: str | None) -> frozenset[str]:
    """Lower-case names of the headers this format sets that the history may record in clear."""
    return frozenset(name.lower() for name in getattr(_module(payload_format), "HEADERS_IN_CLEAR", ()))


def recorded_body(payload_format: str | None, body: bytes) -> bytes:
    """The body as the history keeps it: a credential inside it (PagerDuty's routing key) masked."""
    mask = getattr(_module(payload_format), "recorded_body", None)
    return mask(body) if mask else body
