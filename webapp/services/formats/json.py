"""Tocsin's own JSON (DESIGN.md, schema version 1): `{"type", "timestamp", "data"}`."""
from webapp.services.formats.base import Payload, dump

LABEL = "JSON (Tocsin schema)"


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    return Payload(dump({"type": event_type, "timestamp": timestamp, "data": context}), "application/json")
