"""Standard Webhooks signatures (https://www.standardwebhooks.com), the default scheme, so
receivers can verify with any Standard Webhooks library instead of code written for Tocsin."""
import base64
import binascii
import hashlib
import hmac
from secrets import token_bytes

NAME = "standard-webhooks"
LABEL = "Standard Webhooks (default)"
SIGNS = True
SEVERAL_SIGNATURES = True  # both secrets sign during the 24 hours after a rotation
SIGNATURE_HEADER = "webhook-signature"
PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
GENERATED_SECRET_BYTES = 32


def generate_secret() -> str:
    """A new signing secret: `whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(token_bytes(GENERATED_SECRET_BYTES)).decode("ascii")


def _decode(secret: str) -> bytes:
    return base64.b64decode(secret[len(PREFIX):], validate=True)


def validate_secret(text: str) -> str:
    """The secret in canonical form, or ValueError with a message a user can act on."""
    secret = (text or "").strip()
    if not secret.startswith(PREFIX):
        raise ValueError("the secret must start with whsec_ (Standard Webhooks form)")
    try:
        key = _decode(secret)
    except (binascii.Error, ValueError) as error:
        raise ValueError("the part after whsec_ must be valid base64") from error
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"the secret must decode to {MIN_SECRET_BYTES}–{MAX_SECRET_BYTES} bytes; this one has {len(key)}"
        )
    return PREFIX + base64.b64encode(key).decode("ascii")


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` keyed with the decoded secret."""
    signed = f"{message_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_decode(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per valid secret, space-separated
    (two during the 24 hours after a rotation)."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets)


def header_names(settings=None) -> frozenset[str]:
    return frozenset({"webhook-id", "webhook-timestamp", SIGNATURE_HEADER})


def signature_header_names(settings=None) -> frozenset[str]:
    return frozenset({SIGNATURE_HEADER})


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes, settings=None) -> dict[str, str]:
    """The scheme's headers of one attempt: `webhook-id` (the same on every attempt),
    `webhook-timestamp` (this attempt) and `webhook-signature`."""
    return {"webhook-id": message_id, "webhook-timestamp": str(int(timestamp)),
            SIGNATURE_HEADER: signature_header(secrets, message_id, timestamp, body)}
