"""Signature schemes, one module per scheme behind one small interface.

Each module has a `NAME`, a `LABEL`, `SIGNS` (whether it sends a signature at all),
`SEVERAL_SIGNATURES` (whether both secrets sign during the 24 hours after a rotation), secret rules
(`generate_secret`, `validate_secret`), `header_names(settings)` and `signature_header_names(settings)`
(the names it sets, lowercase) and `headers(secrets, message_id, timestamp, body, settings) -> dict`.
`settings` is the endpoint's `SignatureSettings`, so the header names a receiver expects are per
endpoint. `SCHEMES` is the one registry the request builder, the endpoint form and the API read;
Standard Webhooks is the default.
"""
from dataclasses import dataclass

from webapp.services.signing import hmac_hex, none, standard_webhooks, timestamped_hmac

SCHEMES = {module.NAME: module for module in (standard_webhooks, hmac_hex, timestamped_hmac, none)}
DEFAULT_SCHEME = standard_webhooks.NAME
# Formats whose URL or key is the credential: choosing one proposes the scheme `none` on the form.
UNSIGNED_FORMATS = ("slack", "discord", "teams", "ntfy", "pagerduty")
MASK = "••••"


@dataclass(frozen=True)
class SignatureSettings:
    """How one endpoint's attempts are signed: its scheme and, where the scheme uses them, the
    header name (hmac-sha256-hex) or header prefix (timestamped-hmac-hex); None means the default."""

    scheme: str = DEFAULT_SCHEME
    header: str | None = None
    prefix: str | None = None


def settings_of(endpoint) -> SignatureSettings:
    """The settings of an endpoint row or snapshot."""
    return SignatureSettings(endpoint.signature_scheme or DEFAULT_SCHEME, endpoint.signature_header,
                             endpoint.signature_header_prefix)


def scheme(name: str | None = None):
    """The module of scheme `name` (the default when None)."""
    return SCHEMES[name or DEFAULT_SCHEME]


def labels() -> dict[str, str]:
    return {name: module.LABEL for name, module in SCHEMES.items()}


# The signature headers of every scheme under their default names: the history masks these even in
# a record written before per-endpoint names existed (a record's own names are masked when written).
SIGNATURE_HEADERS = frozenset(name for module in SCHEMES.values()
                              for name in module.signature_header_names(SignatureSettings(module.NAME)))


def mask_signature(value) -> str:
    """A signature header as records may show it: `v1,abc… v1,def…` → `v1,•••• v1,••••`,
    `sha256=abc…` → `sha256=••••`, `v1=abc…` → `v1=••••` (anything else → `••••`)."""
    text = "" if value is None else str(value)
    masked = []
    for part in text.split():
        cut = min((index for index in (part.find(","), part.find("=")) if index >= 0), default=-1)
        masked.append(part[:cut + 1] + MASK)
    return " ".join(masked)
