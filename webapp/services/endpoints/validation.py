"""What an endpoint may be: every field checked, with one user-facing message per field, for
the settings form and the JSON API alike."""
import re

from webapp.models import Endpoint
from webapp.services import crypto, formats, outbound
from webapp.services.delivery import claims, request
from webapp.services.endpoints import credentials, delivery_policy, urls
from webapp.services.formats.template import MAX_TEMPLATE_CHARACTERS

MAX_HEADERS = 20
MAX_HEADER_VALUE = 4096
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 field-value, ASCII only: what every HTTP client sends the same way (obs-text, such as
# "€" or U+2028, fails in the sender's latin-1 encoding; NUL and VT are never valid).
HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?")


class InvalidEndpoint(ValueError):
    """Input refused, with one user-facing message per field (form errors / API `fields`)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


def endpoint_headers(endpoint: Endpoint) -> dict[str, str]:
    """The custom headers in clear text (for sending and for keeping unchanged values)."""
    return {name: crypto.decrypt(token) for name, token in (endpoint.headers_encrypted or {}).items()}


def _check_url(url) -> str:
    """Scheme, length, user-info and address rules all live in outbound (the SSRF guard)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("Enter the URL that should receive alerts.")
    url = url.strip()
    urls.refuse_masked(url)
    try:
        outbound.check_target(url)
    except outbound.BlockedTarget as error:
        raise ValueError(str(error)) from None
    return url


def check_header(name, value, *, allow_keep: bool = False) -> None:
    """Refuse a header Tocsin cannot send safely or that would collide with its own."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not valid: use letters, digits and - only")
    if request.is_reserved_header(name):
        raise ValueError(f"header name {name} is reserved")
    if value is None and allow_keep:
        return
    if not isinstance(value, str):
        raise ValueError(f"header {name} needs a text value")
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} has a line break in its value")
    if len(value) > MAX_HEADER_VALUE:
        raise ValueError(f"header {name} is longer than {MAX_HEADER_VALUE} characters")
    if value and not HEADER_VALUE.fullmatch(value):
        raise ValueError(f"header {name} can hold only printable ASCII characters, with spaces or tabs between "
                         f"them and none at either end (RFC 9110); this value cannot be sent as it is")


def _check_headers(headers, existing: dict) -> dict:
    """`{name: value}`; a value of None keeps the value stored for that name (edit form, masked API)."""
    if not isinstance(headers, dict):
        raise ValueError("Headers must be an object of name → value.")
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"At most {MAX_HEADERS} custom headers; this has {len(headers)}.")
    seen = set()
    for name, value in headers.items():
        check_header(name, value, allow_keep=True)
        if name.lower() in seen:
            raise ValueError(f"header {name} is listed twice")
        seen.add(name.lower())
        if value is None and name not in existing:
            raise ValueError(f"header {name} has no value")
    return headers


def _check_timeout(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("The timeout must be a whole number of seconds.")
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError("The timeout must be a whole number of seconds.") from None
    if not claims.MIN_ENDPOINT_TIMEOUT_SECONDS <= seconds <= claims.MAX_ENDPOINT_TIMEOUT_SECONDS:
        raise ValueError(f"The timeout must be between {claims.MIN_ENDPOINT_TIMEOUT_SECONDS} and "
                         f"{claims.MAX_ENDPOINT_TIMEOUT_SECONDS} seconds.")
    return seconds


def validate(data: dict, endpoint: Endpoint | None = None) -> dict:
    """The cleaned subset of `data` that was given; raises InvalidEndpoint listing every bad field.
    Creation (no `endpoint`) requires a name and a URL."""
    from webapp.services.endpoints import signature_settings  # imported here: it reads HEADER_NAME from this module

    cleaned, errors = {}, {}
    data = urls.without_unchanged_url(data, endpoint)
    existing = endpoint_headers(endpoint) if endpoint is not None else {}
    checks = {
        "name": _check_name, "url": _check_url, "timeout_seconds": _check_timeout,
        "headers": lambda value: _check_headers(value, existing),
        "secret": lambda value: signature_settings.check_secret(value, data, endpoint),
    }
    if endpoint is None:
        for required in ("name", "url"):
            data.setdefault(required, "")
    for name, check in checks.items():
        if name in data and not (name == "secret" and data[name] in (None, "")):
            try:
                cleaned[name] = check(data[name])
            except ValueError as error:
                errors[name] = str(error)
    payload_format = data.get("format", endpoint.format if endpoint is not None else "json")
    if not isinstance(payload_format, str) or payload_format not in formats.FORMATS:
        errors["format"] = f"Choose one of: {', '.join(formats.FORMATS)}."
        payload_format = None  # (a list or an object cannot even be looked up)
    elif "format" in data:
        cleaned["format"] = payload_format
    cleaned.update(credentials.check(data, endpoint, payload_format, errors))
    template = data.get("template", endpoint.template if endpoint is not None else None)
    if template is not None and not isinstance(template, str):
        errors["template"] = "The template must be text."
    elif payload_format == "template" and not (template or "").strip():
        errors["template"] = "The template format needs a template."
    elif template and len(template) > MAX_TEMPLATE_CHARACTERS:
        errors["template"] = f"The template is longer than {MAX_TEMPLATE_CHARACTERS} characters."
    elif template and payload_format == "template":
        try:
            formats.template.validate_template(template)
        except formats.PayloadError as error:
            errors["template"] = str(error)
    if "template" in data and "template" not in errors:
        cleaned["template"] = template or None
    cleaned.update(signature_settings.validate(data, endpoint, cleaned.get("headers", existing), errors))
    delivery_policy.validate(data, cleaned, errors)  # retry delays, attempt budget, history limit
    if errors:
        raise InvalidEndpoint(errors)
    return cleaned


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Give the endpoint a name.")
    if len(name.strip()) > 100:
        raise ValueError("The name is longer than 100 characters.")
    return name.strip()
