"""Signature schemes, one module per scheme behind one small interface.

Each module has a `NAME`, its `SIGNATURE_HEADER`, secret rules (`generate_secret`,
`validate_secret`) and `headers(secrets, message_id, timestamp, body) -> dict`: every header the
scheme adds to an attempt, one signature per valid secret. `SCHEMES` is the one registry the
request builder (and the endpoint form and API) read; Standard Webhooks is the default.
"""
from webapp.services.signing import standard_webhooks

SCHEMES = {standard_webhooks.NAME: standard_webhooks}
DEFAULT_SCHEME = standard_webhooks.NAME
SIGNATURE_HEADERS = frozenset(module.SIGNATURE_HEADER for module in SCHEMES.values())
MASK = "••••"


def scheme(name: str | None = None):
    """The module of scheme `name` (the default when None)."""
    return SCHEMES[name or DEFAULT_SCHEME]


def mask_signature(value) -> str:
    """A signature header as records may show it: `v1,abc… v1,def…` → `v1,•••• v1,••••`."""
    text = "" if value is None else str(value)
    return " ".join(part.split(",", 1)[0] + "," + MASK for part in text.split())
