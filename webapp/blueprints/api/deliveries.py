"""/api/v1/deliveries: the delivery history (keyset on id, newest first), one delivery with its
attempts, redeliver, and retry now."""
import sqlalchemy as sa
from flask import current_app, jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import collection, page_cursor
from webapp.blueprints.api.validation import page_limit, query_id
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Endpoint, Rule
from webapp.services import history, labels
from webapp.services.delivery import pool, requeue, retry_now
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404
from webapp.timeutil import isoformat


def delivery_json(delivery: Delivery) -> dict:
    round_attempts, round_max_attempts = labels.attempt_round(delivery.attempt_count, delivery.max_attempts,
                                                              delivery.round_base_attempts)
    state = history.ui_status(delivery)
    return {
        "id": delivery.id,
        "message_id": delivery.message_id,
        "alert_id": delivery.alert_id,
        "endpoint_id": delivery.endpoint_id,
        "rule_id": delivery.rule_id,
        "is_test": delivery.is_test,
        "event": delivery.event,  # the payload type: alert.fired, alert.repeated, alert.resolved, alert.test
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "max_attempts": delivery.max_attempts,
        # The current round (a redeliver starts a new one with a fresh budget): "attempt 2 of 8".
        "round_attempt_count": round_attempts,
        "round_max_attempts": round_max_attempts,
        "state": state,  # the screens' state: pending … dead, test-delivered, test-failed
        "state_label": labels.delivery_state_label(state),
        "event_label": labels.event_label(delivery.event),
        "next_attempt_at": isoformat(delivery.next_attempt_at) if delivery.status in ("pending", "sending") else None,
        "last_http_status": delivery.last_http_status,
        "last_error": delivery.last_error,
        "last_duration_ms": delivery.last_duration_ms,
        "created_at": isoformat(delivery.created_at),
        "finished_at": isoformat(delivery.finished_at),
    }


def attempt_json(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "started_at": isoformat(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "http_status": attempt.http_status,
        "outcome": attempt.outcome,
        "request_headers": history.masked_headers(attempt.request_headers),
        "request_body": attempt.request_body,
        "response_excerpt": attempt.response_excerpt,
        "response_headers": attempt.response_headers,
        "error": attempt.error,
    }




def _owned_id(name: str, model) -> int | None:
    """A filter id that must name a row of this workspace (deleted endpoints included)."""
    object_id = query_id(name)
    if object_id is not None and db.session.scalar(
            sa.select(model.id).where(model.id == object_id, model.workspace_id == current_workspace_id())) is None:
        raise ApiError(400, "invalid_filter", f"No {model.__name__.lower()} {object_id} in this workspace.",
                       {name: "Unknown id."})
    return object_id


def _filters() -> history.HistoryFilter:
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in history.UI_STATUSES:
        raise ApiError(400, "invalid_filter", f"status must be one of {', '.join(history.UI_STATUSES)}.",
                       {"status": "Unknown status."})
    is_test_raw = request.args.get("is_test", "").strip().lower()
    if is_test_raw not in ("", "true", "false"):
        raise ApiError(400, "invalid_filter", "is_test must be true or false.", {"is_test": "Not true or false."})
    return history.HistoryFilter(endpoint_id=_owned_id("endpoint_id", Endpoint), rule_id=_owned_id("rule_id", Rule),
                                 status=status, is_test={"true": True, "false": False}.get(is_test_raw))


@bp.get("/deliveries")
def list_deliveries():
    """`status` takes the history's statuses: pending (not yet attempted), sending,
    failed-retrying, delivered, dead (alert deliveries only), test-delivered, test-failed.
    `cursor` is the `next_cursor` of the previous page."""
    filters = _filters()
    limit = page_limit()
    page = history.list_deliveries(current_workspace_id(), filters, limit=limit, before=page_cursor())
    return jsonify(collection([delivery_json(delivery) for delivery in page.items], page.next_before))


@bp.get("/deliveries/<delivery_id>")
def get_delivery(delivery_id):
    delivery = get_or_404(Delivery, delivery_id)
    attempts = db.session.scalars(
        sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id,
                                         DeliveryAttempt.workspace_id == delivery.workspace_id)
        .order_by(DeliveryAttempt.number, DeliveryAttempt.id)).all()
    return jsonify({**delivery_json(delivery), "attempts": [attempt_json(attempt) for attempt in attempts]})


@bp.post("/deliveries/<delivery_id>/redeliver")
def redeliver_delivery(delivery_id):
    """Queue a delivered or dead delivery again with the same message id (202: it is sent later)."""
    delivery = get_or_404(Delivery, delivery_id)
    if not requeue.redeliver(delivery, user_id=current_user_id(), client_ip=request.remote_addr, via="the API"):
        raise ApiError(409, "conflict", f"The delivery is {delivery.status}: only delivered or dead "
                                        "deliveries can be redelivered.")
    db.session.commit()
    body = delivery_json(delivery)  # before the send pool can change it
    pool.send_after_commit(current_app._get_current_object(), [delivery.id], current_workspace_id())
    return jsonify(body), 202


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery_now(delivery_id):
    """A delivery waiting out its back-off after a failed attempt is made due now and sent
    (202); 409 `not_waiting`, `endpoint_disabled` or `endpoint_deleted` otherwise."""
    delivery = get_or_404(Delivery, delivery_id)
    try:
        retry_now.retry_now(delivery, user_id=current_user_id(), client_ip=request.remote_addr, via="the API")
    except retry_now.NotWaiting as refused:
        db.session.rollback()
        raise ApiError(409, refused.code, refused.message) from None
    db.session.commit()
    body = delivery_json(delivery)  # before the send pool can change it
    pool.send_after_commit(current_app._get_current_object(), [delivery.id], current_workspace_id())
    return jsonify(body), 202
