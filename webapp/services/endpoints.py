"""Endpoint life cycle shared by the settings pages and the JSON API: validation, encrypted
secrets and headers, soft delete, enable/disable, reveal/rotate and "Send test alert".
Every change is audited here, so the pages and the API cannot disagree about what is recorded."""
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import PAYLOAD_FORMATS, Delivery, DeliveryAttempt, Endpoint, Rule, Workspace, rule_endpoint
from webapp.services import audit, crypto, outbound, payloads, sender, signing
from webapp.timeutil import utcnow

MAX_HEADERS = 20
MAX_HEADER_VALUE = 4096
MAX_TEMPLATE = 20_000
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
RESERVED_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
RESERVED_PREFIXES = ("webhook-", "x-tocsin-")
EDITABLE_FIELDS = ("name", "url", "format", "template", "timeout_seconds", "headers")
HEALTH_WINDOW = 3  # the health badge looks at this many latest attempts


class InvalidEndpoint(ValueError):
    """Input refused, with one user-facing message per field (form errors / API `fields`)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Actor:
    """Who acts, for the audit log (a page user or an API key's creator) and from where."""

    user_id: int | None = None
    client_ip: str | None = None


def _audit(endpoint: Endpoint, actor: Actor, action: str, summary: str) -> None:
    audit.record(workspace_id=endpoint.workspace_id, user_id=actor.user_id, action=f"endpoint.{action}",
                 object_type="endpoint", object_id=endpoint.id, summary=summary, client_ip=actor.client_ip)


# --- validation ------------------------------------------------------------------------------

def _check_url(url) -> str:
    """Scheme, length, user-info and address rules all live in outbound (the SSRF guard)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("Enter the URL that should receive alerts.")
    url = url.strip()
    try:
        outbound.check_target(url)
    except outbound.BlockedTarget as error:
        raise ValueError(str(error)) from None
    return url


def check_header(name, value, *, allow_keep: bool = False) -> None:
    """Refuse a header Tocsin cannot send safely or that would collide with its own."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not valid: use letters, digits and - only")
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
        raise ValueError(f"header name {name} is reserved")
    if value is None and allow_keep:
        return
    if not isinstance(value, str):
        raise ValueError(f"header {name} needs a text value")
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} has a line break in its value")
    if len(value) > MAX_HEADER_VALUE:
        raise ValueError(f"header {name} is longer than {MAX_HEADER_VALUE} characters")


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
    if not 1 <= seconds <= 30:
        raise ValueError("The timeout must be between 1 and 30 seconds.")
    return seconds


def validate(data: dict, endpoint: Endpoint | None = None) -> dict:
    """The cleaned subset of `data` that was given; raises InvalidEndpoint listing every bad field.
    Creation (no `endpoint`) requires a name and a URL."""
    cleaned, errors = {}, {}
    existing = endpoint_headers(endpoint) if endpoint is not None else {}
    checks = {
        "name": _check_name, "url": _check_url, "timeout_seconds": _check_timeout,
        "headers": lambda value: _check_headers(value, existing),
        "secret": lambda value: signing.validate_secret(value if isinstance(value, str) else ""),
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
    if payload_format not in PAYLOAD_FORMATS:
        errors["format"] = f"Choose one of: {', '.join(PAYLOAD_FORMATS)}."
    elif "format" in data:
        cleaned["format"] = payload_format
    template = data.get("template", endpoint.template if endpoint is not None else None)
    if template is not None and not isinstance(template, str):
        errors["template"] = "The template must be text."
    elif payload_format == "template" and not (template or "").strip():
        errors["template"] = "The template format needs a template."
    elif template and len(template) > MAX_TEMPLATE:
        errors["template"] = f"The template is longer than {MAX_TEMPLATE} characters."
    elif template and payload_format == "template":
        try:
            payloads.validate_template(template)
        except payloads.PayloadError as error:
            errors["template"] = str(error)
    if "template" in data and "template" not in errors:
        cleaned["template"] = template or None
    if errors:
        raise InvalidEndpoint(errors)
    return cleaned


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Give the endpoint a name.")
    if len(name.strip()) > 100:
        raise ValueError("The name is longer than 100 characters.")
    return name.strip()


# --- life cycle ------------------------------------------------------------------------------

def endpoint_headers(endpoint: Endpoint) -> dict[str, str]:
    """The custom headers in clear text (for sending and for keeping unchanged values)."""
    return {name: crypto.decrypt(token) for name, token in (endpoint.headers_encrypted or {}).items()}


def _encrypt_headers(headers: dict, existing_tokens: dict) -> dict:
    return {name: existing_tokens[name] if value is None else crypto.encrypt(value)
            for name, value in headers.items()}


def create_endpoint(workspace_id: int, user_id: int | None, data: dict, *,
                    client_ip: str | None = None) -> tuple[Endpoint, str]:
    """Create an endpoint; returns it and its clear secret (shown once). The caller commits."""
    cleaned = validate(dict(data))
    secret = cleaned.pop("secret", None) or signing.generate_secret()
    headers = cleaned.pop("headers", {}) or {}
    values = {"format": "json", "timeout_seconds": 10, **cleaned}
    endpoint = Endpoint(workspace_id=workspace_id, created_by_id=user_id, secret_encrypted=crypto.encrypt(secret),
                        headers_encrypted=_encrypt_headers(headers, {}), **values)
    db.session.add(endpoint)
    db.session.flush()
    _audit(endpoint, Actor(user_id, client_ip), "create",
           f"created endpoint {endpoint.name!r} → {urlsplit(endpoint.url).hostname} ({endpoint.format})")
    return endpoint, secret


def update_endpoint(endpoint: Endpoint, data: dict, *, actor: Actor = Actor()) -> list[str]:
    """Apply the given fields; returns the names of those that changed (audited, never values of secrets)."""
    cleaned = validate(dict(data), endpoint)
    changed = []
    for name in EDITABLE_FIELDS:
        if name not in cleaned:
            continue
        if name == "headers":
            if _same_headers(endpoint, cleaned["headers"]):
                continue
            endpoint.headers_encrypted = _encrypt_headers(cleaned["headers"], endpoint.headers_encrypted or {})
        elif getattr(endpoint, name) == cleaned[name]:
            continue
        else:
            setattr(endpoint, name, cleaned[name])
        changed.append(name)
    if changed:
        endpoint.updated_at = utcnow()
        _audit(endpoint, actor, "update", f"changed {', '.join(changed)} of endpoint {endpoint.name!r}")
    return changed


def _same_headers(endpoint: Endpoint, headers: dict) -> bool:
    current = endpoint_headers(endpoint)
    wanted = {name: current.get(name) if value is None else value for name, value in headers.items()}
    return wanted == current


def delete_endpoint(endpoint: Endpoint, *, actor: Actor = Actor()) -> list[Rule]:
    """Soft delete: the endpoint stops receiving and leaves every rule, its delivery history stays.
    Returns the rules it was removed from (some may now have no endpoint at all)."""
    rules = rules_using(endpoint)
    for rule in rules:
        rule.endpoints = [other for other in rule.endpoints if other.id != endpoint.id]
    endpoint.deleted_at = utcnow()
    endpoint.is_active = False
    _audit(endpoint, actor, "delete", f"deleted endpoint {endpoint.name!r}"
           + (f"; removed from rules {', '.join(repr(rule.name) for rule in rules)}" if rules else ""))
    return rules


def rules_using(endpoint: Endpoint) -> list[Rule]:
    statement = (sa.select(Rule).join(rule_endpoint, rule_endpoint.c.rule_id == Rule.id)
                 .where(rule_endpoint.c.endpoint_id == endpoint.id, Rule.workspace_id == endpoint.workspace_id)
                 .order_by(Rule.name))
    return list(db.session.scalars(statement))


def set_active(endpoint: Endpoint, active: bool, *, actor: Actor = Actor()) -> bool:
    """Enable or disable; re-enabling forgets why the engine disabled it. Returns whether it changed."""
    if endpoint.is_active == active:
        return False
    endpoint.is_active = active
    if active:
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
    else:
        endpoint.disabled_reason, endpoint.disabled_at = "Disabled by a user.", utcnow()
    _audit(endpoint, actor, "enable" if active else "disable",
           f"{'enabled' if active else 'disabled'} endpoint {endpoint.name!r}")
    return True


def reveal_secret(endpoint: Endpoint, *, actor: Actor = Actor()) -> str:
    """The clear secret (audited); crypto.DecryptionError, unaudited, when no configured key reads it."""
    secret = crypto.decrypt(endpoint.secret_encrypted)
    _audit(endpoint, actor, "reveal_secret", f"revealed the signing secret of endpoint {endpoint.name!r}")
    return secret


UNREADABLE_SECRET = ("The signing secret cannot be decrypted: the key that encrypted it is not in "
                     "TOCSIN_ENCRYPTION_KEY. Put that key back in the list (newest first), or rotate the "
                     "secret to make a new one.")


def rotate_secret(endpoint: Endpoint, *, actor: Actor = Actor()) -> str:
    """A new secret; the old one keeps signing too for 24 hours (the sender adds both signatures)."""
    secret = signing.generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.secret_rotated_at = utcnow()
    _audit(endpoint, actor, "rotate_secret",
           f"rotated the signing secret of endpoint {endpoint.name!r}; the old one signs too for 24 h")
    return secret


def previous_secret_valid_until(endpoint: Endpoint):
    if endpoint.previous_secret_encrypted is None or endpoint.secret_rotated_at is None:
        return None
    until = endpoint.secret_rotated_at + timedelta(hours=24)
    return until if until > utcnow() else None


def send_test(endpoint: Endpoint, *, actor: Actor = Actor()):
    """Send a signed `alert.test` now (also when disabled) and record it as a test delivery.
    Commits before the HTTP call so no write lock is held while waiting for the receiver."""
    now = utcnow()
    delivery = Delivery(workspace_id=endpoint.workspace_id, endpoint_id=endpoint.id, is_test=True,
                        max_attempts=1, status="sending", next_attempt_at=None,
                        lease_until=now + timedelta(seconds=endpoint.timeout_seconds + 60))
    db.session.add(delivery)
    db.session.flush()
    _audit(endpoint, actor, "test", f"sent a test alert to endpoint {endpoint.name!r}")
    db.session.commit()
    result = sender.send_once(delivery)
    delivery.status = "delivered" if result.outcome == "success" else "dead"
    delivery.finished_at = utcnow()
    delivery.lease_until = None
    db.session.commit()
    return delivery, result


# --- reading ---------------------------------------------------------------------------------

def health_by_endpoint(endpoint_list: list[Endpoint]) -> dict[int, str]:
    """healthy / failing / disabled per endpoint id: failing when its last 3 attempts all failed
    (one or two failures of a new endpoint are not yet a streak). One query for the whole list."""
    live_ids = [endpoint.id for endpoint in endpoint_list if endpoint.is_active]
    failing: set[int] = set()
    if live_ids:
        ranked = (sa.select(Delivery.endpoint_id, DeliveryAttempt.outcome,
                            sa.func.row_number().over(partition_by=Delivery.endpoint_id,
                                                      order_by=DeliveryAttempt.id.desc()).label("position"))
                  .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                  .where(Delivery.endpoint_id.in_(live_ids)).subquery())
        statement = (sa.select(ranked.c.endpoint_id,
                               sa.func.sum(sa.case((ranked.c.outcome == "success", 1), else_=0)), sa.func.count())
                     .where(ranked.c.position <= HEALTH_WINDOW).group_by(ranked.c.endpoint_id))
        failing = {endpoint_id for endpoint_id, successes, attempts in db.session.execute(statement)
                   if not successes and attempts >= HEALTH_WINDOW}
    return {endpoint.id: "disabled" if not endpoint.is_active else "failing" if endpoint.id in failing
            else "healthy" for endpoint in endpoint_list}


def health(endpoint: Endpoint) -> str:
    return health_by_endpoint([endpoint])[endpoint.id]


def last_delivery(endpoint: Endpoint) -> Delivery | None:
    return db.session.scalar(sa.select(Delivery).where(Delivery.endpoint_id == endpoint.id)
                             .order_by(Delivery.id.desc()).limit(1))


def last_deliveries(endpoint_list: list[Endpoint]) -> dict[int, Delivery]:
    """The newest delivery of each endpoint in one query (for the list page)."""
    ids = [endpoint.id for endpoint in endpoint_list]
    if not ids:
        return {}
    newest = (sa.select(sa.func.max(Delivery.id)).where(Delivery.endpoint_id.in_(ids))
              .group_by(Delivery.endpoint_id))
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.id.in_(newest)))
    return {delivery.endpoint_id: delivery for delivery in rows}


def preview(workspace_id: int, data: dict) -> dict:
    """The body a test alert would carry in the chosen format (nothing saved, nothing sent), for
    the form's Preview button: {"content_type", "body"}; a failing template → InvalidEndpoint."""
    payload_format = data.get("format") if data.get("format") in PAYLOAD_FORMATS else "json"
    draft = Endpoint(format=payload_format, template=data.get("template") or "")
    workspace = db.session.get(Workspace, workspace_id)
    try:
        body, content_type = payloads.render(draft, "alert.test", payloads.sample_context(workspace, draft),
                                             run_metadata=payloads.SAMPLE_RUN_METADATA)
    except payloads.PayloadError as error:
        raise InvalidEndpoint({"template": str(error)}) from None
    text = body.decode("utf-8", errors="replace")
    if content_type == "application/json":
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return {"content_type": content_type, "body": text}
