"""An endpoint's signature settings (scheme, the hex scheme's header name, the timestamped scheme's
header prefix): checked for the form and the API alike, and what a scheme change does to the secret.

A scheme change keeps the secret when it fits the new scheme's rules (e.g. a 64-hex secret moving
between the two hex schemes) and otherwise makes a new one, shown once like a created one; leaving
`none` always makes a new one, since nobody has seen the stored one. Either way the previous
secret stops signing: a rotation's 24 hours of two signatures belong to one scheme.
"""
from webapp.models import Endpoint
from webapp.services import crypto, signing
from webapp.services.delivery import request
from webapp.services.endpoints.validation import HEADER_NAME
from webapp.services.signing import hmac_hex, none, timestamped_hmac

FIELDS = ("signature_scheme", "signature_header", "signature_header_prefix")
MAX_HEADER_CHARACTERS = 100  # the columns' lengths
MAX_PREFIX_CHARACTERS = 60
# Each setting applies to one scheme only.
APPLIES_TO = {"signature_header": hmac_hex.NAME, "signature_header_prefix": timestamped_hmac.NAME}


def scheme_name(data: dict, endpoint: Endpoint | None) -> str:
    """The scheme the endpoint will have: the one asked for, else its current one, else the default."""
    if "signature_scheme" in data:
        value = data["signature_scheme"]
        return signing.DEFAULT_SCHEME if value in (None, "") else str(value)  # a non-text value: refused as unknown
    return signing.settings_of(endpoint).scheme if endpoint is not None else signing.DEFAULT_SCHEME


def check_secret(value, data: dict, endpoint: Endpoint | None) -> str:
    """A pasted secret, by the rules of the scheme the endpoint will have."""
    rules = signing.SCHEMES.get(scheme_name(data, endpoint), signing.scheme())
    return rules.validate_secret(value if isinstance(value, str) else "")


def _text(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    return value.strip() or None


def _check_header_name(name: str) -> str:
    if not HEADER_NAME.fullmatch(name) or len(name) > MAX_HEADER_CHARACTERS:
        raise ValueError(f"{name!r} is not a valid header name: use letters, digits and - only "
                         f"(at most {MAX_HEADER_CHARACTERS} characters), e.g. X-Hub-Signature-256.")
    if request.is_reserved_header(name):
        raise ValueError(f"{name} is a header Tocsin sets itself; choose another name, e.g. X-Webhook-Signature.")
    return name


def _check_prefix(prefix: str) -> str:
    if not HEADER_NAME.fullmatch(prefix) or len(prefix) > MAX_PREFIX_CHARACTERS:
        raise ValueError(f"{prefix!r} is not a valid header prefix: use letters, digits and - only "
                         f"(at most {MAX_PREFIX_CHARACTERS} characters), e.g. X-CueAPI-.")
    if not prefix.endswith("-"):
        raise ValueError(f"The prefix must end with “-”, e.g. {prefix}- (headers {prefix}-Timestamp and "
                         f"{prefix}-Signature).")
    if prefix.lower().startswith("webhook-"):
        raise ValueError("Header names starting with webhook- belong to Standard Webhooks; choose another prefix.")
    return prefix


def validate(data: dict, endpoint: Endpoint | None, custom_header_names, errors: dict) -> dict:
    """The cleaned signature settings (all of them on create, the changed ones on update); a bad
    one goes into `errors` under its field. A custom header may not take a name the scheme sends."""
    current = signing.settings_of(endpoint) if endpoint is not None else None
    name = scheme_name(data, endpoint)
    if name not in signing.SCHEMES:
        errors["signature_scheme"] = f"Choose one of: {', '.join(signing.SCHEMES)}."
        return {}
    values = {"signature_scheme": name, "signature_header": None, "signature_header_prefix": None}
    for field, applies_to in APPLIES_TO.items():
        kept = getattr(endpoint, field) if current is not None and current.scheme == name else None
        try:
            value = _text(data.get(field)) if field in data else kept
            if value is not None and name != applies_to:
                raise ValueError(f"Applies to the {applies_to} scheme only; this endpoint's scheme is {name}.")
            if name == applies_to:
                if field == "signature_header":
                    values[field] = _check_header_name(value or hmac_hex.DEFAULT_HEADER)
                else:
                    values[field] = _check_prefix(value or timestamped_hmac.DEFAULT_PREFIX)
        except ValueError as error:
            errors[field] = str(error)
    if any(field in errors for field in FIELDS):
        return {}
    sent = signing.scheme(name).header_names(
        signing.SignatureSettings(name, values["signature_header"], values["signature_header_prefix"]))
    clashing = sorted(header for header in custom_header_names if header.lower() in sent)
    if clashing:
        errors.setdefault("headers", f"header {clashing[0]} is a signature header of this endpoint's scheme "
                                     f"({name}); remove it or choose another signature header name")
        return {}
    if endpoint is None:
        return values
    return {field: value for field, value in values.items() if getattr(endpoint, field) != value}


def after_scheme_change(endpoint: Endpoint, previous_scheme: str) -> str | None:
    """Fit the secret to the endpoint's new scheme: None when it stays (or the scheme signs
    nothing), else the new secret, to show once. The previous secret stops signing."""
    endpoint.previous_secret_encrypted = endpoint.secret_rotated_at = None
    module = signing.scheme(endpoint.signature_scheme)
    if not module.SIGNS:
        return None
    if previous_scheme != none.NAME:
        try:
            current = crypto.decrypt(endpoint.secret_encrypted)
            if module.validate_secret(current) == current:
                return None
        except (crypto.DecryptionError, ValueError):
            pass
    secret = module.generate_secret()
    endpoint.secret_encrypted = crypto.encrypt(secret)
    return secret
