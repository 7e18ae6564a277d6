"""Timestamped hex HMAC, the cueapi style: `<prefix>Timestamp: <unix seconds>` and
`<prefix>Signature: v1=<hex>` of HMAC-SHA256(secret as UTF-8, "{timestamp}.{body}"). The prefix is
per endpoint (default `X-Tocsin-`, e.g. `X-CueAPI-`); since the timestamp is signed, a receiver can
refuse a replay by its age."""
import hashlib
import hmac

from webapp.services.signing import text_secret
from webapp.services.signing.text_secret import generate_secret, validate_secret  # noqa: F401 (the interface)

NAME = "timestamped-hmac-hex"
LABEL = "Timestamped hex HMAC (cueapi style)"
SIGNS = True
SEVERAL_SIGNATURES = False  # one signature per request: after a rotation only the new secret signs
DEFAULT_PREFIX = "X-Tocsin-"
VERSION = "v1="


def prefix(settings) -> str:
    return settings.prefix or DEFAULT_PREFIX


def timestamp_header(settings) -> str:
    return prefix(settings) + "Timestamp"


def signature_header(settings) -> str:
    return prefix(settings) + "Signature"


def header_names(settings) -> frozenset[str]:
    return frozenset({timestamp_header(settings).lower(), signature_header(settings).lower()})


def signature_header_names(settings) -> frozenset[str]:
    return frozenset({signature_header(settings).lower()})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` + lowercase hex HMAC-SHA256 of `{timestamp}.{body}`, keyed with the secret's UTF-8 bytes."""
    signed = f"{int(timestamp)}.".encode() + body
    return VERSION + hmac.new(text_secret.key(secret), signed, hashlib.sha256).hexdigest()


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes, settings) -> dict[str, str]:
    """The timestamp of this attempt and its signature with the current secret only."""
    return {timestamp_header(settings): str(int(timestamp)),
            signature_header(settings): signature(secrets[0], timestamp, body)}
