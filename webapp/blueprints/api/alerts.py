"""/api/v1/alerts: the filtered list (by cursor like every list, or by offset with a total) and
acknowledging one alert."""
from flask import jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import collection, count_rows, keyset_rows, page_cursor
from webapp.blueprints.api.validation import page_limit
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import Alert, Delivery
from webapp.services.alerting import alerts as alert_service
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404
from webapp.timeutil import isoformat

MAX_OFFSET = 1_000_000


def alert_json(alert: Alert, deliveries: list[Delivery], acknowledged_by: str | None) -> dict:
    return {
        "id": alert.id, "type": alert.type, "severity": alert.severity, "message": alert.message,
        "repeat_count": alert.repeat_count, "last_seen_at": isoformat(alert.last_seen_at),
        "created_at": isoformat(alert.created_at), "acknowledged_at": isoformat(alert.acknowledged_at),
        "acknowledged_by": acknowledged_by, "rule_id": alert.rule_id,
        "job": alert.job.slug if alert.job else None, "run_id": alert.run_id,
        "deliveries": [{"id": delivery.id, "endpoint_id": delivery.endpoint_id, "status": delivery.status}
                       for delivery in deliveries],
    }


def _page_json(alerts: list[Alert]) -> list[dict]:
    deliveries = alert_service.deliveries_by_alert(alerts)
    emails = alert_service.acknowledgers(alerts)
    return [alert_json(alert, deliveries[alert.id], emails.get(alert.acknowledged_by_id)) for alert in alerts]


def _offset(cursor: int | None) -> int:
    """`?offset=`, kept for clients that page with `next_offset`; a cursor page takes none."""
    raw = request.args.get("offset", "0")
    try:
        offset = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_filter", "offset must be a whole number.", {"offset": "Not a number."}) from None
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "invalid_filter", f"offset must be between 0 and {MAX_OFFSET}.",
                       {"offset": f"Between 0 and {MAX_OFFSET}."})
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
            since=request.args.get("since"))
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


@bp.post("/alerts/<alert_id>/acknowledge")
def acknowledge_alert(alert_id):
    alert = get_or_404(Alert, alert_id)
    if alert_service.acknowledge(alert, user_id=current_user_id(), client_ip=request.remote_addr):
        db.session.commit()
    return jsonify(_page_json([alert])[0])
