"""Hex body HMAC, the style of GitHub's `X-Hub-Signature-256`: one header (its name per endpoint)
holding `sha256=` + lowercase hex of HMAC-SHA256(secret as UTF-8, raw body), so receivers written
for that style verify Tocsin's alerts unchanged. No timestamp is signed: such a receiver cannot
tell a replay, which is why Standard Webhooks stays the default."""
import hashlib
import hmac

from webapp.services.signing import text_secret
from webapp.services.signing.text_secret import generate_secret, validate_secret  # noqa: F401 (the interface)

NAME = "hmac-sha256-hex"
LABEL = "Hex body HMAC (X-Hub-Signature-256 style)"
SIGNS = True
SEVERAL_SIGNATURES = False  # one signature per request: after a rotation only the new secret signs
DEFAULT_HEADER = "X-Webhook-Signature"
PREFIX = "sha256="


def header_name(settings) -> str:
    return settings.header or DEFAULT_HEADER


def header_names(settings) -> frozenset[str]:
    return frozenset({header_name(settings).lower()})


signature_header_names = header_names


def signature(secret: str, body: bytes) -> str:
    """`sha256=` + lowercase hex HMAC-SHA256 of the raw body, keyed with the secret's UTF-8 bytes."""
    return PREFIX + hmac.new(text_secret.key(secret), body, hashlib.sha256).hexdigest()


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes, settings) -> dict[str, str]:
    """The one signature header, signed with the current secret only."""
    return {header_name(settings): signature(secrets[0], body)}
