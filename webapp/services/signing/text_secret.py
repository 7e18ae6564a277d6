"""The secret of the two hex schemes: text whose UTF-8 bytes are the HMAC key, as the receivers
written for GitHub-style and cueapi-style webhooks expect. A user may paste the secret their
receiver already has (e.g. 64 hex characters), or have one generated."""
from secrets import token_hex

MIN_CHARACTERS = 16
MAX_CHARACTERS = 256
GENERATED_BYTES = 32  # 64 hex characters


def generate_secret() -> str:
    """64 random hex characters."""
    return token_hex(GENERATED_BYTES)


def validate_secret(text: str) -> str:
    """The secret without surrounding white space, or ValueError with a message a user can act on."""
    secret = (text or "").strip()
    if not MIN_CHARACTERS <= len(secret) <= MAX_CHARACTERS:
        raise ValueError(f"the secret must be {MIN_CHARACTERS}–{MAX_CHARACTERS} characters; this one has {len(secret)}")
    if not secret.isprintable():
        raise ValueError("the secret may hold printable characters only (no tabs, line breaks or control characters)")
    return secret


def key(secret: str) -> bytes:
    return secret.encode("utf-8")
