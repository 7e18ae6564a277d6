"""Payload formats, one module per format (as Healthchecks keeps one package per integration).

Each module has a `LABEL` (what the endpoint form shows) and
`build(event_type, context, *, timestamp, template, run_metadata) -> (body bytes, content type)`,
where `context` is the `data` object of the payload schema (`formats.context`). `FORMATS` is the
one registry the endpoint form, the API and the request builder read. Every body is serialised
once; the request builder signs and sends exactly these bytes.
"""
from webapp.services.formats import discord, json, slack, template
from webapp.services.formats.base import PayloadError
from webapp.services.formats.context import SAMPLE_RUN_METADATA, alert_context, sample_context
from webapp.timeutil import isoformat, utcnow

FORMATS = {"json": json, "slack": slack, "discord": discord, "template": template}
DEFAULT_FORMAT = "json"

__all__ = ["FORMATS", "DEFAULT_FORMAT", "PayloadError", "SAMPLE_RUN_METADATA", "alert_context", "labels",
           "render", "sample_context"]


def labels() -> dict[str, str]:
    """{format name: label}, in the order the form lists them."""
    return {name: module.LABEL for name, module in FORMATS.items()}


def render(endpoint, event_type: str, context: dict, *, run_metadata: dict | None = None) -> tuple[bytes, str]:
    """(body, content type) in the endpoint's format. `run_metadata` is offered to templates
    only (as `run.metadata`): the built-in formats carry summaries, never metadata."""
    timestamp = isoformat(utcnow().replace(microsecond=0))
    module = FORMATS.get(endpoint.format, FORMATS[DEFAULT_FORMAT])
    return module.build(event_type, context, timestamp=timestamp, template=endpoint.template,
                        run_metadata=run_metadata)
