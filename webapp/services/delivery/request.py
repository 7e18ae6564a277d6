"""The signed HTTP request of one attempt, built from a delivery snapshot, and its record.

The body and the receiver's own headers (ntfy's Title, Priority…) come from the endpoint's payload
format (services/formats), the signature headers from its signature scheme (services/signing);
this module adds Tocsin's own headers and the endpoint's custom ones, and masks every secret in
what the history keeps (credential headers, and PagerDuty's routing key inside the body). It touches no
database: `attempt` reads the snapshot before and writes the record after.
"""
import time
from datetime import timedelta

from webapp.services import crypto, formats, outbound, signing
from webapp.services.delivery.snapshot import DeliverySnapshot, EndpointSnapshot
from webapp.services.outbound import OutboundResult
from webapp.timeutil import utcnow
from webapp.version import __version__

PREVIOUS_SECRET_GRACE = timedelta(hours=24)  # the old secret keeps signing this long after a rotation
MASKED_VALUE = "••••••"
# Names the HTTP layer owns or Tocsin sets itself: an endpoint's custom header may not use them.
HTTP_LAYER_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection",
                                "user-agent"})
# Hop-by-hop and negotiation headers (RFC 9110 §7.6.1): they describe one connection, not the
# alert, and an `Accept-Encoding` of the user's would make the history's response excerpt unreadable.
CONNECTION_HEADERS = frozenset({"keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect",
                                "accept-encoding", "proxy-authorization", "proxy-authenticate"})
RESERVED_PREFIXES = ("webhook-", "x-tocsin-")
# Recorded in clear in the history; every other header is a custom one, stored encrypted.
RECORDED_IN_CLEAR = frozenset({*HTTP_LAYER_HEADERS, "accept", "accept-encoding"})


class NotSent(Exception):
    """The request could not be built: `outcome` is `template` (the body failed to render) or
    `skipped` (the alert is gone, or a stored secret cannot be decrypted)."""

    def __init__(self, outcome: str, error: str):
        super().__init__(error)
        self.outcome, self.error = outcome, error


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in HTTP_LAYER_HEADERS or lowered in CONNECTION_HEADERS or lowered.startswith(RESERVED_PREFIXES)


def signing_secrets(endpoint: EndpointSnapshot) -> list[str]:
    """The current secret, then the previous one during the 24 hours after a rotation."""
    secrets = [crypto.decrypt(endpoint.secret_encrypted)]
    rotated_at = endpoint.secret_rotated_at
    if endpoint.previous_secret_encrypted and rotated_at and utcnow() - rotated_at < PREVIOUS_SECRET_GRACE:
        secrets.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return secrets


def custom_headers(endpoint: EndpointSnapshot) -> dict[str, str]:
    """The endpoint's own headers in clear, minus any name Tocsin or its signature scheme sets."""
    scheme_names = signing.scheme(endpoint.signature_scheme).header_names(signing.settings_of(endpoint))
    return {name: crypto.decrypt(token) for name, token in (endpoint.headers_encrypted or {}).items()
            if not is_reserved_header(name) and name.lower() not in scheme_names}


def masked(headers: dict, endpoint: EndpointSnapshot | None = None) -> dict:
    """Headers for the record: every signature as `v1,••••` (or `sha256=••••`, under the names the
    endpoint's scheme uses), and every header Tocsin does not set itself (the endpoint's custom
    headers, stored encrypted; an access token) as `••••••`, so the history never shows a token in
    clear. The endpoint's format's own headers (ntfy's Title, Priority…) are shown as sent."""
    signature_names, scheme_names, in_clear = set(signing.SIGNATURE_HEADERS), set(), frozenset()
    if endpoint is not None:
        module, settings = signing.scheme(endpoint.signature_scheme), signing.settings_of(endpoint)
        signature_names |= module.signature_header_names(settings)
        scheme_names = module.header_names(settings)
        in_clear = formats.headers_in_clear(endpoint.format)
    shown = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in signature_names:
            value = signing.mask_signature(value)
        elif (lowered not in RECORDED_IN_CLEAR and lowered not in scheme_names and lowered not in in_clear
              and not lowered.startswith(RESERVED_PREFIXES)):
            value = MASKED_VALUE
        shown[name] = value
    return shown


def _body(delivery: DeliverySnapshot) -> tuple[formats.Payload, dict]:
    """(payload, Tocsin's headers) for this delivery in its endpoint's format:
    `x-tocsin-event` is the payload type (alert.fired, alert.repeated, alert.resolved,
    alert.test), `x-tocsin-alert-type` the event that raised the alert (run_failed, …) and
    `x-tocsin-alert-id` the alert's id (real alerts only)."""
    if delivery.is_test:
        context = formats.sample_context(delivery.workspace, delivery.endpoint)
        event_type = "alert.test"
        run_metadata = formats.SAMPLE_RUN_METADATA
    elif delivery.alert is None:
        raise NotSent("skipped", "the alert of this delivery no longer exists")
    else:
        alert = delivery.alert
        context, event_type = formats.alert_context(alert, delivery.workspace), delivery.event or "alert.fired"
        run_metadata = alert.run.run_metadata if alert.run is not None else None
    try:
        payload = formats.render(delivery.endpoint, event_type, context, run_metadata=run_metadata)
    except formats.PayloadError as error:
        raise NotSent("template", str(error)) from error
    except crypto.DecryptionError as error:  # the receiver's credential (routing key, access token)
        raise NotSent("skipped", str(error)) from error
    own = {"x-tocsin-event": event_type, "x-tocsin-alert-type": context["alert"]["type"]}
    if delivery.alert is not None and not delivery.is_test:  # a test send has no alert, so no alert id
        own["x-tocsin-alert-id"] = str(delivery.alert.id)
    return payload, own


def target_url(endpoint: EndpointSnapshot) -> str:
    """The URL in clear, decrypted at send time only; NotSent when no configured key reads it."""
    try:
        return endpoint.url
    except crypto.DecryptionError as error:
        raise NotSent("skipped", str(error)) from error


def build(delivery: DeliverySnapshot) -> tuple[bytes, dict]:
    """(body, headers) of this attempt, signed now; raises NotSent when it cannot be built."""
    payload, tocsin_headers = _body(delivery)
    body, endpoint = payload.body, delivery.endpoint
    scheme = signing.scheme(endpoint.signature_scheme)
    format_names = {name.lower() for name in payload.headers}
    try:
        headers = {name: value for name, value in custom_headers(endpoint).items() if name.lower() not in format_names}
        headers.update(payload.headers)
        secrets = signing_secrets(endpoint) if scheme.SIGNS else []
        # webhook-id (the delivery's id, the same on every retry) goes out whatever the scheme.
        headers["webhook-id"] = delivery.message_id
        headers.update(scheme.headers(secrets, delivery.message_id, int(time.time()), body,
                                      signing.settings_of(endpoint)))
    except crypto.DecryptionError as error:
        raise NotSent("skipped", str(error)) from error
    headers.update({"content-type": payload.content_type, "user-agent": f"Tocsin/{__version__}", **tocsin_headers})
    return body, headers


def send(delivery: DeliverySnapshot, number: int) -> tuple[OutboundResult, dict]:
    """Build, sign and POST attempt `number` through the one module that opens outgoing
    connections; (its result, its `DeliveryAttempt` row). A request that cannot be built is an
    attempt too, with nothing on the wire (outcome `template` or `skipped`)."""
    started_at, started = utcnow(), time.monotonic()
    try:
        body, headers = build(delivery)
        url = target_url(delivery.endpoint)
    except NotSent as not_sent:
        body = None
        result = OutboundResult(status=None, duration_ms=int(round((time.monotonic() - started) * 1000)),
                                response_excerpt=None, error=not_sent.error, outcome=not_sent.outcome)
    else:
        result = outbound.post(url, body, headers, float(delivery.endpoint.timeout_seconds or 10))
    return result, attempt_values(delivery, number, started_at, result, body)


def attempt_values(delivery: DeliverySnapshot, number: int, started_at, result: OutboundResult,
                   body: bytes | None) -> dict:
    """The `DeliveryAttempt` row of one attempt, as column values (signatures and secrets masked)."""
    return {
        "workspace_id": delivery.workspace_id,
        "delivery_id": delivery.id,
        "number": number,
        "started_at": started_at,
        "duration_ms": result.duration_ms,
        "http_status": result.status,
        "outcome": result.outcome,
        "request_headers": masked(result.request_headers, delivery.endpoint) if result.request_headers else None,
        "request_body": (formats.recorded_body(delivery.endpoint.format, body).decode("utf-8", errors="replace")
                         if body is not None else None),
        "response_excerpt": (result.response_excerpt or "")[:1024] or None,
        "response_headers": result.response_headers or None,
        "error": result.error[:1000] if result.error else None,
    }
