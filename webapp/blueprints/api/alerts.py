"""/api/v1/alerts: the filtered list (by cursor like every list, or by offset with a total), and
a person's actions on one alert: acknowledge (with an optional note), unacknowledge, resolve."""
from flask import current_app, jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import collection, count_rows, keyset_rows, page_cursor
from webapp.blueprints.api.validation import json_body, page_limit, query_number
from webapp.errors import ApiError, json_error
from webapp.extensions import db
from webapp.models import Alert, Delivery
from webapp.services.alerting import alerts as alert_service
from webapp.services.delivery import pool
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404
from webapp.timeutil import isoformat

MAX_OFFSET = 1_000_000


@bp.errorhandler(alert_service.AlertResolved)
def alert_resolved(error: alert_service.AlertResolved):
    # The refused UPDATE took SQLite's write lock: end its transaction now, not at the request's end.
    db.session.rollback()
    return json_error(409, "conflict", str(error))


def alert_json(alert: Alert, deliveries: list[Delivery], people: dict[int, str]) -> dict:
    """`acknowledged_by` and `resolved_by` are the person's email; `resolved_by` is null for an
    automatic resolution (and for a person whose account was deleted since)."""
    return {
        "id": alert.id, "type": alert.type, "severity": alert.severity, "message": alert.message,
        "state": alert.state, "repeat_count": alert.repeat_count, "last_seen_at": isoformat(alert.last_seen_at),
        "created_at": isoformat(alert.created_at), "acknowledged_at": isoformat(alert.acknowledged_at),
        "acknowledged_by": people.get(alert.acknowledged_by_id), "acknowledged_note": alert.acknowledged_note,
        "resolved_at": isoformat(alert.resolved_at), "resolved_by": people.get(alert.resolved_by_id),
        "rule_id": alert.rule_id, "job": alert.job.slug if alert.job else None, "run_id": alert.run_id,
        "silenced_by": alert.silenced_by,
        "deliveries": [{"id": delivery.id, "endpoint_id": delivery.endpoint_id, "event": delivery.event,
                        "status": delivery.status} for delivery in deliveries],
    }


def _page_json(alerts: list[Alert]) -> list[dict]:
    deliveries = alert_service.deliveries_by_alert(alerts)
    people = alert_service.people(alerts)
    return [alert_json(alert, deliveries[alert.id], people) for alert in alerts]


def _offset(cursor: int | None) -> int:
    """`?offset=`, kept for clients that page with `next_offset`; a cursor page takes none."""
    offset = query_number("offset", default=0, minimum=0, maximum=MAX_OFFSET)
    if offset and cursor is not None:
        raise ApiError(400, "invalid_filter", "Page with cursor or with offset, not both.",
                       {"offset": "Not with cursor."})
    return offset


@bp.get("/alerts")
def list_alerts():
    """Every list's `items` and `next_cursor`, plus `total` and `next_offset` (null on cursor pages)."""
    limit, cursor = page_limit(), page_cursor()
    offset = _offset(cursor)
    try:
        filters = alert_service.make_filter(
            alert_type=request.args.get("alert_type"), severity=request.args.get("severity"),
            job_slug=request.args.get("job"), acknowledged=request.args.get("acknowledged"),
            since=request.args.get("since"), state=request.args.get("state"))
    except alert_service.InvalidFilter as error:
        raise ApiError(400, "invalid_filter", str(error), {error.field: str(error)}) from None
    statement = alert_service.filtered(current_workspace_id(), filters)
    alerts, next_id = keyset_rows(statement.offset(offset), Alert, limit, cursor)
    next_offset = offset + len(alerts) if next_id is not None and cursor is None else None
    return jsonify({**collection(_page_json(alerts), next_id), "next_offset": next_offset,
                    "total": count_rows(statement)})


@bp.get("/alerts/<alert_id>")
def get_alert(alert_id):
    return jsonify(_page_json([get_or_404(Alert, alert_id)])[0])


def _actor() -> dict:
    return {"user_id": current_user_id(), "client_ip": request.remote_addr}


@bp.post("/alerts/<alert_id>/acknowledge")
def acknowledge_alert(alert_id):
    """Optional body `{"note": "..."}`; acknowledging an acknowledged alert changes nothing."""
    alert = get_or_404(Alert, alert_id)
    note = json_body({"note"}, required=False).get("note")
    try:
        changed = alert_service.acknowledge(alert, note=note, **_actor())
    except alert_service.InvalidNote as error:
        raise ApiError(400, "validation_error", str(error), {"note": str(error)}) from None
    if changed:
        db.session.commit()
    return jsonify(_page_json([alert])[0])


@bp.post("/alerts/<alert_id>/unacknowledge")
def unacknowledge_alert(alert_id):
    alert = get_or_404(Alert, alert_id)
    if alert_service.unacknowledge(alert, **_actor()):
        db.session.commit()
    return jsonify(_page_json([alert])[0])


@bp.post("/alerts/<alert_id>/resolve")
def resolve_alert(alert_id):
    """409 `conflict` when the alert is resolved already."""
    alert = get_or_404(Alert, alert_id)
    delivery_ids = alert_service.resolve(alert, **_actor())
    db.session.commit()
    pool.send_after_commit(current_app._get_current_object(), delivery_ids, current_workspace_id())
    return jsonify(_page_json([alert])[0])
