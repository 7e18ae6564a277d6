"""One signed HTTP attempt of a delivery, recorded as a `DeliveryAttempt`.

The delivery engine (services/delivery.py) decides whether to send and what the outcome
means for the delivery's status; this module only builds the request, sends it through
`outbound.post` and writes down what happened. It flushes and never commits.
"""
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from webapp import __version__
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt
from webapp.services import crypto, delivery_snapshot, outbound, payloads, signing
from webapp.services.delivery_snapshot import DeliverySnapshot, EndpointSnapshot
from webapp.services.outbound import OutboundResult
from webapp.timeutil import utcnow

PREVIOUS_SECRET_GRACE = timedelta(hours=24)
SIGNATURE_HEADER = "webhook-signature"
MASKED_SIGNATURE = "v1,••••"
MASKED_VALUE = "••••••"
# Names Tocsin sets itself (or that belong to the HTTP layer): a custom header never replaces them.
OWN_HEADERS = ("webhook-id", "webhook-timestamp", SIGNATURE_HEADER, "content-type", "user-agent",
               "x-tocsin-event", "host", "content-length", "transfer-encoding", "connection")
RECORDED_IN_CLEAR = (*OWN_HEADERS, "accept", "accept-encoding")


@dataclass
class AttemptResult(OutboundResult):
    """The `OutboundResult` of the attempt (signatures masked in `request_headers`) plus the
    id of the `DeliveryAttempt` row written.
    Extra outcomes: `template` (the body could not be rendered) and `skipped` (the request
    could not be built: the alert is gone or a stored secret cannot be decrypted)."""

    attempt_id: int | None = None


class _NotSent(Exception):
    def __init__(self, outcome: str, error: str):
        super().__init__(error)
        self.outcome, self.error = outcome, error


def signing_secrets(endpoint: EndpointSnapshot) -> list[str]:
    """The current secret, then the previous one during the 24 hours after a rotation."""
    secrets = [crypto.decrypt(endpoint.secret_encrypted)]
    rotated_at = endpoint.secret_rotated_at
    if endpoint.previous_secret_encrypted and rotated_at and utcnow() - rotated_at < PREVIOUS_SECRET_GRACE:
        secrets.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return secrets


def custom_headers(endpoint: EndpointSnapshot) -> dict[str, str]:
    """The endpoint's own headers in clear, minus any name Tocsin sets itself."""
    headers = {}
    for name, token in (endpoint.headers_encrypted or {}).items():
        if name.lower() not in OWN_HEADERS:
            headers[name] = crypto.decrypt(token)
    return headers


def masked(headers: dict) -> dict:
    """Headers for the record: every signature replaced by `v1,••••`, and every other header
    not set by Tocsin or the HTTP layer (the endpoint's custom headers, stored encrypted) by
    `••••••`, so the history never shows a token in clear."""
    shown = {}
    for name, value in headers.items():
        if name.lower() == SIGNATURE_HEADER:
            value = " ".join(MASKED_SIGNATURE for _ in str(value).split())
        elif name.lower() not in RECORDED_IN_CLEAR:
            value = MASKED_VALUE
        shown[name] = value
    return shown


def _body(delivery: DeliverySnapshot) -> tuple[bytes, str, str]:
    """(body, content type, x-tocsin-event) for this delivery in its endpoint's format."""
    if delivery.is_test:
        context = payloads.sample_context(delivery.workspace, delivery.endpoint)
        event_type = event = "alert.test"
        run_metadata = payloads.SAMPLE_RUN_METADATA
    elif delivery.alert is None:
        raise _NotSent("skipped", "the alert of this delivery no longer exists")
    else:
        alert = delivery.alert
        context, event_type, event = payloads.alert_context(alert, delivery.workspace), "alert.fired", alert.type
        run_metadata = alert.run.run_metadata if alert.run is not None else None
    try:
        body, content_type = payloads.render(delivery.endpoint, event_type, context, run_metadata=run_metadata)
    except payloads.PayloadError as error:
        raise _NotSent("template", str(error)) from error
    return body, content_type, event


def _request(delivery: DeliverySnapshot) -> tuple[bytes, dict]:
    body, content_type, event = _body(delivery)
    endpoint = delivery.endpoint
    timestamp = int(time.time())
    try:
        headers = custom_headers(endpoint)
        signature = signing.signature_header(signing_secrets(endpoint), delivery.message_id, timestamp, body)
    except crypto.DecryptionError as error:
        raise _NotSent("skipped", str(error)) from error
    headers.update({
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        SIGNATURE_HEADER: signature,
        "content-type": content_type,
        "user-agent": f"Tocsin/{__version__}",
        "x-tocsin-event": event,
    })
    return body, headers


def prepare(delivery: DeliverySnapshot) -> tuple[bytes | None, dict | None, tuple[str, str] | None]:
    """(body, headers, None) for this attempt, or (None, None, (outcome, error)) when the request
    cannot be built. Touches no database."""
    try:
        body, headers = _request(delivery)
    except _NotSent as not_sent:
        return None, None, (not_sent.outcome, not_sent.error)
    return body, headers, None


def post(url: str, timeout_seconds: int | None, body: bytes | None, headers: dict | None,
         not_sent: tuple[str, str] | None, started: float) -> OutboundResult:
    """Send what `prepare` built (touches no database); `started` is the attempt's monotonic start."""
    if not_sent is not None:
        outcome, error = not_sent
        return OutboundResult(status=None, duration_ms=int(round((time.monotonic() - started) * 1000)),
                              response_excerpt=None, error=error, outcome=outcome)
    return outbound.post(url, body, headers, float(timeout_seconds or 10))


def attempt_values(delivery, number: int, started_at, result: OutboundResult, body: bytes | None) -> dict:
    """The `DeliveryAttempt` row of one attempt, as column values (signatures and secrets masked);
    `delivery` is anything with the delivery's `id` and `workspace_id`."""
    return {
        "workspace_id": delivery.workspace_id,
        "delivery_id": delivery.id,
        "number": number,
        "started_at": started_at,
        "duration_ms": result.duration_ms,
        "http_status": result.status,
        "outcome": result.outcome,
        "request_headers": masked(result.request_headers) if result.request_headers else None,
        "request_body": body.decode("utf-8", errors="replace") if body is not None else None,
        "response_excerpt": (result.response_excerpt or "")[:1024] or None,
        "error": result.error[:1000] if result.error else None,
    }


def send_once(delivery: Delivery) -> AttemptResult:
    """Send one attempt now, whatever the endpoint's state (the engine decides that), and
    record it: a `DeliveryAttempt` row plus the delivery's attempt count and last result."""
    snapshot = delivery_snapshot.load(delivery.id)
    started_at, started = utcnow(), time.monotonic()
    body, headers, not_sent = prepare(snapshot)
    result = post(snapshot.endpoint.url, snapshot.endpoint.timeout_seconds, body, headers, not_sent, started)
    attempt = DeliveryAttempt(**attempt_values(delivery, delivery.attempt_count + 1, started_at, result, body))
    db.session.add(attempt)
    delivery.attempt_count = attempt.number
    delivery.last_http_status = result.status
    delivery.last_error = attempt.error
    delivery.last_duration_ms = result.duration_ms
    db.session.flush()
    return AttemptResult(**{**asdict(result), "request_headers": attempt.request_headers or {}},
                         attempt_id=attempt.id)
