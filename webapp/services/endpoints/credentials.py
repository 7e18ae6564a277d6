"""The receiver's own credential of an endpoint: a PagerDuty routing key (required by that
format) or an ntfy access token (optional). Stored encrypted like the signing secret, never
shown again; checked here for the settings form and the API alike.

In the data the services take, a field that is absent keeps the stored value, a text sets it,
and `None` or "" removes it (the API turns its mask back into "absent").
"""
import re

from webapp.services import crypto, formats

FIELDS = ("routing_key", "access_token")
MAX_ROUTING_KEY = 128  # PagerDuty's integration keys are 32 characters
MAX_ACCESS_TOKEN = 512  # ntfy's are 32 (`tk_…`)
# Printable ASCII without spaces: both go to the receiver as they are (in the body, in a header).
CREDENTIAL_TEXT = re.compile(r"[\x21-\x7e]+")
REQUIRED = {"routing_key": "PagerDuty needs a routing key: the Integration Key of an Events API v2 integration "
                           "on the PagerDuty service (32 characters)."}
WORDS = {"routing_key": "routing key", "access_token": "access token"}
LIMITS = {"routing_key": MAX_ROUTING_KEY, "access_token": MAX_ACCESS_TOKEN}


def column(name: str) -> str:
    return f"{name}_encrypted"


def _check(name: str, value) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"The {WORDS[name]} must be text.")
    value = value.strip()
    if len(value) > LIMITS[name]:
        raise ValueError(f"The {WORDS[name]} is longer than {LIMITS[name]} characters.")
    if not CREDENTIAL_TEXT.fullmatch(value):
        raise ValueError(f"The {WORDS[name]} may hold letters, digits and punctuation only (no spaces or line breaks).")
    return value


def check(data: dict, endpoint, payload_format: str, errors: dict) -> dict:
    """The cleaned credentials given in `data` ({name: clear text or None}); a bad or missing one
    goes into `errors` under its field name. The format's credential is required when it says so."""
    cleaned = {}
    for name in FIELDS:
        if name in data:
            try:
                cleaned[name] = _check(name, data[name])
            except ValueError as error:
                errors[name] = str(error)
                continue
        if name in REQUIRED and formats.credential_name(payload_format) == name:
            stored = getattr(endpoint, column(name), None) if endpoint is not None else None
            if (cleaned[name] if name in cleaned else stored) is None:
                errors[name] = REQUIRED[name]
    return cleaned


def encrypted(cleaned: dict) -> dict:
    """Pops the credentials out of `cleaned`: {column: Fernet token} for a new endpoint."""
    return {column(name): crypto.encrypt(value) for name in FIELDS
            if (value := cleaned.pop(name, None)) is not None}


def apply(endpoint, name: str, value: str | None) -> bool:
    """Store `value` (None removes it); returns whether it changed."""
    token = getattr(endpoint, column(name))
    try:
        current = crypto.decrypt(token) if token else None
    except crypto.DecryptionError:
        current = object()  # unreadable: any new value is a change
    if current == value:
        return False
    setattr(endpoint, column(name), crypto.encrypt(value) if value is not None else None)
    return True
