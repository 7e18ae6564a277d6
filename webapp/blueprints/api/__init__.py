"""JSON API under /api/v1, authenticated with `Authorization: Bearer <API key>` (no CSRF)."""
from flask import Blueprint, current_app, g, request

from webapp.blueprints.api.scopes import require_scope
from webapp.errors import ApiError
from webapp.services.accounts import api_key_from_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
REPORTS_PATH = "/api/v1/runs"  # run reports have their own, larger rate limit


@bp.before_request
def authenticate_api_key():
    if request.endpoint == "api.openapi_document":  # the OpenAPI document holds no data
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "Missing Authorization header: send `Authorization: Bearer <API key>`.")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "Malformed Authorization header: expected `Bearer <API key>`.")
    api_key = api_key_from_token(token.strip())
    if api_key is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    g.workspace_id = api_key.workspace_id
    g.api_user_id = api_key.created_by_id
    g.api_key_id = api_key.id
    g.api_key_scope = api_key.scope
    decision = current_app.extensions["tocsin_api_rate_limits"].take(
        api_key.id, is_report=request.method == "POST" and request.path == REPORTS_PATH)
    g.rate_limit_headers = decision.headers()
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"Too many requests with this API key: at most {decision.limit} at once; "
                                            f"try again in {decision.reset_seconds} s.", headers=g.rate_limit_headers)
    require_scope(api_key.scope, request.endpoint)


@bp.after_request
def add_rate_limit_headers(response):
    response.headers.extend(g.get("rate_limit_headers") or {})
    return response


from webapp.blueprints.api import alerts, config, deliveries, endpoints, jobs, me, openapi, rules, runs, silences  # noqa: E402,F401
