"""GET /metrics for Prometheus, behind a bearer token (404 when TOCSIN_METRICS_TOKEN is unset)."""
import hmac

from flask import Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from webapp.blueprints.dashboard import bp
from webapp.extensions import csrf
from webapp.services.metrics import render_metrics


@bp.get("/metrics")
@csrf.exempt
def metrics():
    token = current_app.config.get("TOCSIN_METRICS_TOKEN") or ""
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return Response('{"error": {"code": "unauthorized", "message": "Send Authorization: Bearer '
                        '<TOCSIN_METRICS_TOKEN>."}}', status=401, mimetype="application/json",
                        headers={"WWW-Authenticate": "Bearer"})
    return Response(render_metrics(current_app._get_current_object()), mimetype=CONTENT_TYPE_LATEST)
