"""JSON API under /api/v1, authenticated with `Authorization: Bearer <API key>` (no CSRF)."""
from flask import Blueprint, g, request

from webapp.errors import ApiError
from webapp.services.accounts import api_key_from_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")


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


from webapp.blueprints.api import alerts, deliveries, endpoints, jobs, me, openapi, rules, runs  # noqa: E402,F401
