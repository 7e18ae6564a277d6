"""The delivery state machine (DESIGN.md): claim → one attempt → delivered, retry or dead.

    pending --claim--> sending --2xx--> delivered
                          |--retryable failure, attempts left--> pending (next_attempt_at = now + back-off)
                          |--attempts used up / 404 / 410 / endpoint gone--> dead
    delivered | dead --redeliver--> pending (same id; attempts continue to be recorded)

An outcome is written only while the claim's lease is still ours, so a process that lost its
lease (it was too slow, another took the row over) can never overwrite the newer state.
"""
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus

from flask import current_app

from webapp import wakeups
from webapp.database import release_before_waiting
from webapp.extensions import db
from webapp.services import metrics, outbound
from webapp.services.delivery import claims, outcomes, request, snapshot
from webapp.services.delivery.backoff import backoff_seconds
from webapp.services.delivery.snapshot import DeliverySnapshot
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)

GONE_STATUSES = (404, 410)
CLAIM_RETRY_SECONDS = 0.1


@dataclass(frozen=True)
class Transition:
    """Where an attempted delivery goes next, and why."""

    status: str  # pending | delivered | dead
    next_attempt_at: datetime | None = None
    error: str | None = None
    disable_reason: str | None = None  # set when the answer disables the endpoint


@dataclass(frozen=True)
class InternalFailure:
    """Stands in for an OutboundResult when sending raised inside Tocsin (a bug, not the receiver)."""

    error: str
    outcome: str = "internal"
    status: int | None = None
    retry_after_seconds: float | None = None


def _lease_left_for(delivery: DeliverySnapshot, lease_until: datetime, now: datetime) -> bool:
    """Whether the lease still covers a whole attempt (a claim that waited in the local queue
    too long is given back rather than sent: another process may take it over meanwhile)."""
    timeout = delivery.endpoint.timeout_seconds or 10
    return lease_until - now >= timedelta(seconds=2 * timeout + claims.lease_margin() / 2)


def attempt(delivery_id: int, lease_until: datetime) -> str | None:
    """Attempt a claimed delivery once and record the outcome; returns the new status.

    Returns None when the lease is no longer ours (nothing written, nothing sent if we found out
    before sending). Commits. Never sends to a deleted or disabled endpoint (a test send may go
    to a disabled one). Holds no database connection while it waits for the receiver.
    """
    delivery = snapshot.load(delivery_id)
    if delivery is None or delivery.status != "sending" or delivery.lease_until != lease_until:
        db.session.rollback()
        return None
    if not _lease_left_for(delivery, lease_until, utcnow()):
        db.session.rollback()
        claims.release(delivery_id, lease_until)
        return None
    unavailable = unavailable_reason(delivery)
    if unavailable is not None:
        db.session.rollback()
        return _write(delivery, lease_until, Transition("dead", error=unavailable))
    number = delivery.attempt_count + 1
    first_attempt_delay = _alert_age_seconds(delivery) if number == 1 else None
    try:
        release_before_waiting()
        result, attempt_row = request.send(delivery, number)
    except Exception as error:  # a bug must not leave the row looping on lease expiry for ever
        log.exception("delivery %s: sending raised", delivery_id)
        db.session.rollback()
        metrics.record_attempt("internal", None, first_attempt_delay)
        failed = InternalFailure(error=f"internal error while sending: {error.__class__.__name__}: {error}"[:1000])
        return _write(delivery, lease_until, decide(delivery, number, failed, utcnow()), number=number, result=failed)
    metrics.record_attempt(result.outcome, result.duration_ms, first_attempt_delay)
    return _write(delivery, lease_until, decide(delivery, number, result, utcnow()), number=number, result=result,
                  attempt_row=attempt_row)


def claim_and_attempt(delivery_id: int, *, wait_seconds: float = 0.0) -> str | None:
    """Claim one delivery and attempt it in this thread: a first attempt (on the send pool), or a
    test send whose page waits for the answer. While its endpoint is at its limits, claims again
    for up to `wait_seconds`. Returns the new status, or None when this call did not claim it
    (it stays due for the retry job, or another process has it)."""
    give_up_at = time.monotonic() + wait_seconds
    while (claim := claims.claim_one(delivery_id)) is None:
        if time.monotonic() >= give_up_at:
            return None
        time.sleep(CLAIM_RETRY_SECONDS)
    return attempt(*claim)


def _alert_age_seconds(delivery: DeliverySnapshot) -> float | None:
    """Seconds from the alert being raised to now (its delivery's first attempt starting)."""
    return (utcnow() - delivery.alert.created_at).total_seconds() if delivery.alert is not None else None


def unavailable_reason(delivery: DeliverySnapshot) -> str | None:
    """Why this delivery must not be sent at all, or None. A test send may use a disabled endpoint."""
    endpoint = delivery.endpoint
    if endpoint.deleted_at is not None:
        return "endpoint deleted before delivery"
    if not endpoint.is_active and not delivery.is_test:
        return f"endpoint disabled: {endpoint.disabled_reason}" if endpoint.disabled_reason else "endpoint disabled"
    return None


def decide(delivery: DeliverySnapshot, number: int, result, now: datetime) -> Transition:
    """The transition after attempt `number` of the delivery (`result` is an OutboundResult)."""
    if result.outcome == "success":
        return Transition("delivered")
    if result.status in GONE_STATUSES and not delivery.is_test:
        reason = gone_reason(delivery.endpoint.url, result.status, now)
        return Transition("dead", error=f"endpoint {reason}", disable_reason=reason)
    failure = describe_failure(result)
    if delivery.is_test:
        return Transition("dead", error=failure)  # a test send is shown at once, never retried
    if number >= delivery.max_attempts:
        noun = "attempt" if number == 1 else "attempts"
        return Transition("dead", error=f"gave up after {number} {noun}; last: {failure}")
    outcome = "throttled" if result.status == 429 else result.outcome
    delay = backoff_seconds(number, outcome, result.retry_after_seconds,
                            scale=float(current_app.config.get("TOCSIN_RETRY_SCALE", 1.0)),
                            delays=delivery.endpoint.retry_delays_seconds)
    return Transition("pending", next_attempt_at=now + timedelta(seconds=delay))


def describe_failure(result) -> str:
    if result.error:
        return result.error
    return f"HTTP {result.status}" if result.status is not None else result.outcome


def gone_reason(url: str, status: int, now: datetime) -> str:
    """ "disabled after 410 Gone from https://host/hooks/••••, 2026-11-24 09:00 UTC" (shown on the
    endpoint; the URL masked, as everywhere)."""
    return (f"disabled after {status} {HTTPStatus(status).phrase} from {outbound.mask_url(url)}, "
            f"{now:%Y-%m-%d %H:%M} UTC")


def _write(delivery: DeliverySnapshot, lease_until: datetime, transition: Transition, *, number: int | None = None,
           result=None, attempt_row: dict | None = None) -> str | None:
    """Write the transition, the attempt row and the endpoint's health (with other threads'
    outcomes, services/outcomes.py) if the lease is still ours; commit. `number` and `result`
    are None when nothing was attempted."""
    now = utcnow()
    values: dict = {"status": transition.status, "lease_until": None, "updated_at": now}
    if transition.status == "pending":
        values["next_attempt_at"] = transition.next_attempt_at
    else:
        values.update(next_attempt_at=None, finished_at=now)
    if result is not None:
        values.update(attempt_count=number, last_http_status=result.status,
                      last_duration_ms=getattr(result, "duration_ms", None),
                      last_error=attempt_row["error"] if attempt_row is not None else result.error)
    if transition.error is not None:
        values["last_error"] = transition.error[:1000]
    status = outcomes.write(outcomes.Outcome(
        delivery_id=delivery.id, endpoint_id=delivery.endpoint.id, is_test=delivery.is_test, lease_until=lease_until,
        values=values, attempt_row=attempt_row,
        succeeded=None if result is None else result.outcome == "success",
        known_failing_since=delivery.endpoint.failing_since, disable_reason=transition.disable_reason))
    if status == "pending":
        wakeups.wake_at(transition.next_attempt_at)  # the retry leaves when due, not at a poll
    wakeups.attempt_finished()  # its concurrency slot is free
    return status
