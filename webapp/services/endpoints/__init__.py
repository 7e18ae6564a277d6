"""Endpoint life cycle shared by the settings pages and the JSON API: validation, encrypted
secrets and headers, soft delete, enable/disable, reveal/rotate and "Send test alert".
Every change is audited here, so the pages and the API cannot disagree about what is recorded."""
import json
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Endpoint, Rule, Workspace, rule_endpoint
from webapp.services import audit, crypto, formats, signing
from webapp.services.delivery import attempt, request
from webapp.services.endpoints import credentials, signature_settings, urls
from webapp.services.endpoints.validation import InvalidEndpoint, endpoint_headers, validate
from webapp.timeutil import utcnow

EDITABLE_FIELDS = ("name", "url", "format", "template", "timeout_seconds", "headers", *credentials.FIELDS,
                   "signature_scheme", "signature_header", "signature_header_prefix",
                   "retry_delays_seconds", "max_attempts", "history_limit")
HEALTH_WINDOW = 3  # the health badge looks at this many latest attempts
TEST_CLAIM_WAIT_SECONDS = 2.0  # a test send waits this long for a busy endpoint's limits


@dataclass(frozen=True)
class Actor:
    """Who acts, for the audit log (a page user or an API key's creator) and from where."""

    user_id: int | None = None
    client_ip: str | None = None


# Credentials: an edit records that they changed, never their values (the URL is one too).
SECRET_FIELDS = ("url", "headers", *credentials.FIELDS)


def _audit(endpoint: Endpoint, actor: Actor, action: str, summary: str, changes: dict | None = None) -> None:
    audit.record(workspace_id=endpoint.workspace_id, user_id=actor.user_id, action=f"endpoint.{action}",
                 object_type="endpoint", object_id=endpoint.id, summary=summary, client_ip=actor.client_ip,
                 changes=changes, object_name=endpoint.name)


# --- life cycle ------------------------------------------------------------------------------

def _encrypt_headers(headers: dict, existing_tokens: dict) -> dict:
    return {name: existing_tokens[name] if value is None else crypto.encrypt(value)
            for name, value in headers.items()}


def create_endpoint(workspace_id: int, user_id: int | None, data: dict, *,
                    client_ip: str | None = None) -> tuple[Endpoint, str]:
    """Create an endpoint; returns it and its clear secret (shown once; None for the scheme `none`,
    whose stored secret is never used). The caller commits."""
    cleaned = validate(dict(data))
    scheme = signing.scheme(cleaned["signature_scheme"])
    secret = cleaned.pop("secret", None) or scheme.generate_secret()
    headers = cleaned.pop("headers", {}) or {}
    values = {"format": "json", "timeout_seconds": 10, **cleaned}
    values.update(credentials.encrypted(values))
    endpoint = Endpoint(workspace_id=workspace_id, created_by_id=user_id, secret_encrypted=crypto.encrypt(secret),
                        headers_encrypted=_encrypt_headers(headers, {}), **values)
    db.session.add(endpoint)
    db.session.flush()
    _audit(endpoint, Actor(user_id, client_ip), "create",
           f"created endpoint {endpoint.name!r} → {endpoint.url_host} ({endpoint.format})")
    return endpoint, secret if scheme.SIGNS else None


class Changes(list):
    """The names of the fields an update changed; `new_secret` is the secret a scheme change made
    (shown once), else None."""

    new_secret: str | None = None


def update_endpoint(endpoint: Endpoint, data: dict, *, actor: Actor = Actor()) -> Changes:
    """Apply the given fields; returns the names of those that changed (audited, never values of secrets)."""
    cleaned = validate(dict(data), endpoint)
    changed, previous_scheme, recorded = Changes(), endpoint.signature_scheme, {}
    for name in EDITABLE_FIELDS:
        if name not in cleaned:
            continue
        recorded[name] = audit.secret_change() if name in SECRET_FIELDS else audit.change(getattr(endpoint, name),
                                                                                           cleaned[name])
        if name == "headers":
            if _same_headers(endpoint, cleaned["headers"]):
                continue
            endpoint.headers_encrypted = _encrypt_headers(cleaned["headers"], endpoint.headers_encrypted or {})
        elif name in credentials.FIELDS:
            if not credentials.apply(endpoint, name, cleaned[name]):
                continue
        elif (urls.readable_url(endpoint) if name == "url" else getattr(endpoint, name)) == cleaned[name]:
            continue
        else:
            setattr(endpoint, name, cleaned[name])
        changed.append(name)
    if "signature_scheme" in changed:
        changed.new_secret = signature_settings.after_scheme_change(endpoint, previous_scheme)
    if changed:
        endpoint.updated_at = utcnow()
        _audit(endpoint, actor, "update", f"changed {', '.join(changed)} of endpoint {endpoint.name!r}"
               + ("; a new signing secret was made for the new scheme" if changed.new_secret else ""),
               changes={name: recorded[name] for name in changed})
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
    """Enable or disable; re-enabling forgets why the engine disabled it and resolves its
    `endpoint_disabled` alerts. Returns whether it changed."""
    from webapp.services.alerting import system_events  # the alerting side imports endpoints

    if endpoint.is_active == active:
        return False
    endpoint.is_active = active
    if active:
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
        system_events.endpoint_enabled(endpoint.id, endpoint.workspace_id)
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


def reveal_url(endpoint: Endpoint, *, actor: Actor = Actor()) -> str:
    """The URL in clear, which pages and the API otherwise show masked (audited, as the secret is);
    crypto.DecryptionError, unaudited, when no configured key reads it."""
    url = endpoint.url
    _audit(endpoint, actor, "reveal_url", f"revealed the URL of endpoint {endpoint.name!r}")
    return url


UNREADABLE_URL = ("The URL cannot be decrypted: the key that encrypted it is not in TOCSIN_ENCRYPTION_KEY. Put that "
                  "key back in the list (newest first), or edit the endpoint and enter its URL again.")


def rotate_secret(endpoint: Endpoint, *, actor: Actor = Actor()) -> str:
    """A new secret. Standard Webhooks: the old one keeps signing too for 24 hours (the request
    builder adds both signatures); schemes that carry one signature sign with the new one only.
    InvalidEndpoint for the scheme `none`, which has no secret to rotate."""
    scheme = signing.scheme(endpoint.signature_scheme)
    if not scheme.SIGNS:
        raise InvalidEndpoint({"signature_scheme": "This endpoint sends no signature (scheme none): "
                                                   "there is no secret to rotate."})
    secret = scheme.generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.secret_rotated_at = utcnow()
    _audit(endpoint, actor, "rotate_secret", f"rotated the signing secret of endpoint {endpoint.name!r}; "
           + ("the old one signs too for 24 h" if scheme.SEVERAL_SIGNATURES else "only the new one signs"))
    return secret


def previous_secret_valid_until(endpoint: Endpoint):
    """Until when the previous secret signs too (None: it does not, e.g. a one-signature scheme)."""
    if endpoint.previous_secret_encrypted is None or endpoint.secret_rotated_at is None:
        return None
    if not signing.scheme(endpoint.signature_scheme).SEVERAL_SIGNATURES:
        return None
    until = endpoint.secret_rotated_at + request.PREVIOUS_SECRET_GRACE
    return until if until > utcnow() else None


@dataclass(frozen=True)
class TestSendResult:
    """What the receiver answered a test send, for the page and the API (a `pending` outcome:
    the endpoint was at its limits, so the test waits for the retry job like any delivery)."""

    outcome: str
    status: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    response_excerpt: str | None = None


QUEUED = TestSendResult("pending", error="The endpoint is at its concurrency or rate limit: the test alert is queued "
                                     "and goes out in a moment (see the delivery history).")


def send_test(endpoint: Endpoint, *, actor: Actor = Actor()) -> tuple[Delivery, TestSendResult]:
    """Send a signed `alert.test` now (also when disabled) as a test delivery that takes the way
    of every delivery (claim, attempt, outcome, metrics, endpoint health), in this thread so the
    page shows the receiver's answer. Commits first: nothing is held while the receiver answers."""
    delivery = Delivery(workspace_id=endpoint.workspace_id, endpoint_id=endpoint.id, is_test=True, event="alert.test",
                        max_attempts=1, status="pending", next_attempt_at=utcnow())
    db.session.add(delivery)
    db.session.flush()
    _audit(endpoint, actor, "test", f"sent a test alert to endpoint {endpoint.name!r}")
    db.session.commit()
    delivery_id = delivery.id
    attempt.claim_and_attempt(delivery_id, wait_seconds=TEST_CLAIM_WAIT_SECONDS)
    delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    last = db.session.scalar(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                             .order_by(DeliveryAttempt.id.desc()).limit(1))
    if last is None:
        return delivery, QUEUED if delivery.status == "pending" else TestSendResult(delivery.status,
                                                                                 error=delivery.last_error)
    return delivery, TestSendResult(last.outcome, last.http_status, last.duration_ms, last.error, last.response_excerpt)


# --- reading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointHealth:
    """What the health badge says: `state` is new | healthy | failing | disabled; `error` is the
    failing attempt's error (or the disabled reason); `at` when that attempt started."""

    state: str
    error: str | None = None
    at: object = None
    is_test: bool = False


def _health(endpoint: Endpoint, window: list) -> EndpointHealth:
    """The rule (docs/ and the OpenAPI spec say the same): disabled when not active; new when no
    attempt was ever made (skipped ones do not count); failing when the latest attempt failed and
    it was a test send (the person asked for a verdict) or none of the last HEALTH_WINDOW attempts
    succeeded; else healthy (one failure between successes is not yet a streak)."""
    if not endpoint.is_active:
        return EndpointHealth("disabled", endpoint.disabled_reason or "no reason recorded", endpoint.disabled_at)
    if not window:
        return EndpointHealth("new")
    latest = window[0]
    if latest.outcome != "success" and (latest.is_test or not any(row.outcome == "success" for row in window)):
        error = latest.error or (f"HTTP {latest.http_status}" if latest.http_status else latest.outcome)
        if latest.http_status and latest.error and str(latest.http_status) not in latest.error:
            error = f"HTTP {latest.http_status}: {latest.error}"
        return EndpointHealth("failing", error, latest.started_at, latest.is_test)
    return EndpointHealth("healthy", at=latest.started_at)


def health_details(endpoint_list: list[Endpoint]) -> dict[int, EndpointHealth]:
    """EndpointHealth per endpoint id, test sends included (a failing test send to a new endpoint
    is `failing` with the test's error, never "healthy"). One query for the whole list."""
    live_ids = [endpoint.id for endpoint in endpoint_list if endpoint.is_active]
    windows: dict[int, list] = {endpoint_id: [] for endpoint_id in live_ids}
    if live_ids:
        ranked = (sa.select(Delivery.endpoint_id, Delivery.is_test, DeliveryAttempt.outcome,
                            DeliveryAttempt.http_status, DeliveryAttempt.error, DeliveryAttempt.started_at,
                            DeliveryAttempt.id,
                            sa.func.row_number().over(partition_by=Delivery.endpoint_id,
                                                      order_by=DeliveryAttempt.id.desc()).label("position"))
                  .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                  .where(Delivery.endpoint_id.in_(live_ids), DeliveryAttempt.outcome != "skipped").subquery())
        statement = (sa.select(ranked).where(ranked.c.position <= HEALTH_WINDOW)
                     .order_by(ranked.c.endpoint_id, ranked.c.position))
        for row in db.session.execute(statement):
            windows[row.endpoint_id].append(row)
    return {endpoint.id: _health(endpoint, windows.get(endpoint.id, [])) for endpoint in endpoint_list}


def health_by_endpoint(endpoint_list: list[Endpoint]) -> dict[int, str]:
    """new / healthy / failing / disabled per endpoint id (see `_health`)."""
    return {endpoint_id: health.state for endpoint_id, health in health_details(endpoint_list).items()}


def health(endpoint: Endpoint) -> str:
    return health_by_endpoint([endpoint])[endpoint.id]


def health_of(endpoint: Endpoint) -> EndpointHealth:
    return health_details([endpoint])[endpoint.id]


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
    the form's Preview button: {"content_type", "body", "headers"} (a credential shown as its
    mask); a failing template → InvalidEndpoint."""
    payload_format = data.get("format") if data.get("format") in formats.FORMATS else formats.DEFAULT_FORMAT
    draft = Endpoint(format=payload_format, template=data.get("template") or "")
    workspace = db.session.get(Workspace, workspace_id)
    credential_name = formats.credential_name(payload_format)
    shown_credential = formats.MASKED_CREDENTIAL if credential_name and (
        data.get(credential_name) or credential_name in credentials.REQUIRED) else None
    try:
        payload = formats.render(draft, "alert.test", formats.sample_context(workspace, draft),
                                 run_metadata=formats.SAMPLE_RUN_METADATA, credential=shown_credential)
    except formats.PayloadError as error:
        raise InvalidEndpoint({"template": str(error)}) from None
    text = payload.body.decode("utf-8", errors="replace")
    if payload.content_type == "application/json":
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return {"content_type": payload.content_type, "body": text, "headers": payload.headers}
