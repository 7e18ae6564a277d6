"""/api/v1/endpoints: the endpoint life cycle as JSON. Same service (and audit) as the pages;
the secret appears only in the 201 of a create, the secret GET and a rotation; the URL is shown
masked everywhere but the audited `GET …/url`."""
from flask import jsonify, request, url_for

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import Endpoint
from webapp.services import crypto
from webapp.services import endpoints as service
from webapp.services.endpoints import Actor, InvalidEndpoint, credentials, delivery_policy
from webapp.services.endpoints.signature_settings import FIELDS as SIGNATURE_FIELDS
from webapp.services.endpoints.urls import shown_url
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import isoformat

MASK = "••••••"
EXCERPT_CHARACTERS = 300
CREATE_FIELDS = {"name", "url", "format", "template", "headers", "timeout_seconds", "secret", "is_active",
                 "routing_key", "access_token", *SIGNATURE_FIELDS, *delivery_policy.FIELDS}
UPDATE_FIELDS = {"name", "url", "format", "template", "headers", "timeout_seconds", "is_active",
                 "routing_key", "access_token", *SIGNATURE_FIELDS, *delivery_policy.FIELDS}


def endpoint_json(endpoint: Endpoint, *, secret: str | None = None,
                  health: service.EndpointHealth | None = None) -> dict:
    health = health or service.health_of(endpoint)
    body = {
        "id": endpoint.id, "name": endpoint.name, "url": shown_url(endpoint), "format": endpoint.format,
        "template": endpoint.template, "headers": {name: MASK for name in endpoint.headers_encrypted or {}},
        "timeout_seconds": endpoint.timeout_seconds, "is_active": endpoint.is_active,
        "disabled_reason": endpoint.disabled_reason,
        "health": health.state, "health_error": health.error if health.state == "failing" else None,
        "created_at": isoformat(endpoint.created_at),
        "updated_at": isoformat(endpoint.updated_at),
        **{name: MASK if getattr(endpoint, credentials.column(name)) else None for name in credentials.FIELDS},
        **{name: getattr(endpoint, name) for name in SIGNATURE_FIELDS},
        **{name: getattr(endpoint, name) for name in delivery_policy.FIELDS},
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _page_json(rows: list[Endpoint]) -> list[dict]:
    health = service.health_details(rows)  # one query for the page
    return [endpoint_json(row, health=health[row.id]) for row in rows]


def _actor() -> Actor:
    return Actor(current_user_id(), request.remote_addr)


def _service_data(body: dict) -> dict:
    """The body as the service takes it: a masked header value or credential means "keep the stored one"."""
    data = {name: value for name, value in body.items()
            if name != "is_active" and not (name in credentials.FIELDS and value == MASK)}
    if isinstance(data.get("headers"), dict):
        data["headers"] = {name: None if value == MASK else value for name, value in data["headers"].items()}
    return data


def _is_active(body: dict):
    value = body.get("is_active")
    if "is_active" in body and not isinstance(value, bool):
        raise ApiError(400, "validation_error", "is_active must be true or false.", {"is_active": "Not a boolean."})
    return value


def _invalid(error: InvalidEndpoint) -> ApiError:
    return ApiError(400, "validation_error", "The endpoint was not saved: " + str(error), error.fields)


@bp.get("/endpoints")
def list_endpoints():
    return jsonify(keyset_page(scoped(Endpoint), Endpoint, _page_json))


@bp.post("/endpoints")
def create_endpoint():
    body = json_body(CREATE_FIELDS)
    active = _is_active(body)
    try:
        endpoint, secret = service.create_endpoint(current_workspace_id(), current_user_id(), _service_data(body),
                                                   client_ip=request.remote_addr)
    except InvalidEndpoint as error:
        raise _invalid(error) from None
    if active is False:
        service.set_active(endpoint, False, actor=_actor())
    db.session.commit()
    location = url_for("api.get_endpoint", endpoint_id=endpoint.id)
    return jsonify(endpoint_json(endpoint, secret=secret)), 201, {"Location": location}


@bp.get("/endpoints/<endpoint_id>")
def get_endpoint(endpoint_id):
    return jsonify(endpoint_json(get_or_404(Endpoint, endpoint_id)))


@bp.patch("/endpoints/<endpoint_id>")
def update_endpoint(endpoint_id):
    endpoint = get_or_404(Endpoint, endpoint_id)
    body = json_body(UPDATE_FIELDS)
    active = _is_active(body)
    try:
        changes = service.update_endpoint(endpoint, _service_data(body), actor=_actor())
    except InvalidEndpoint as error:
        db.session.rollback()
        raise _invalid(error) from None
    if active is not None:
        service.set_active(endpoint, active, actor=_actor())
    db.session.commit()
    # A scheme change whose secret did not fit the new scheme made a new one: shown here, once.
    return jsonify(endpoint_json(endpoint, secret=changes.new_secret))


@bp.delete("/endpoints/<endpoint_id>")
def delete_endpoint(endpoint_id):
    service.delete_endpoint(get_or_404(Endpoint, endpoint_id), actor=_actor())
    db.session.commit()
    return "", 204


@bp.post("/endpoints/<endpoint_id>/test")
def test_endpoint(endpoint_id):
    delivery, result = service.send_test(get_or_404(Endpoint, endpoint_id), actor=_actor())
    return jsonify({
        "delivery_id": delivery.id, "status": delivery.status, "http_status": result.status,
        "duration_ms": result.duration_ms, "response_excerpt": (result.response_excerpt or "")[:EXCERPT_CHARACTERS],
        "error": result.error, "outcome": result.outcome,
    })


@bp.get("/endpoints/<endpoint_id>/secret")
def get_endpoint_secret(endpoint_id):
    endpoint = get_or_404(Endpoint, endpoint_id)
    try:
        secret = service.reveal_secret(endpoint, actor=_actor())
    except crypto.DecryptionError:
        raise ApiError(409, "secret_unreadable", service.UNREADABLE_SECRET) from None
    db.session.commit()
    return jsonify({"id": endpoint.id, "secret": secret}), 200, {"Cache-Control": "no-store"}


@bp.get("/endpoints/<endpoint_id>/url")
def get_endpoint_url(endpoint_id):
    endpoint = get_or_404(Endpoint, endpoint_id)
    try:
        url = service.reveal_url(endpoint, actor=_actor())
    except crypto.DecryptionError:
        raise ApiError(409, "url_unreadable", service.UNREADABLE_URL) from None
    db.session.commit()
    return jsonify({"id": endpoint.id, "url": url}), 200, {"Cache-Control": "no-store"}


@bp.post("/endpoints/<endpoint_id>/secret/rotate")
def rotate_endpoint_secret(endpoint_id):
    endpoint = get_or_404(Endpoint, endpoint_id)
    if request.headers.get("X-Confirm-Destructive", "").strip().lower() != "true":
        raise ApiError(428, "confirmation_required",
                       "Rotating the secret needs the header X-Confirm-Destructive: true.")
    try:
        secret = service.rotate_secret(endpoint, actor=_actor())
    except InvalidEndpoint as error:
        raise _invalid(error) from None
    db.session.commit()
    return jsonify({"id": endpoint.id, "secret": secret,
                    "previous_secret_valid_until": isoformat(service.previous_secret_valid_until(endpoint))}), \
        200, {"Cache-Control": "no-store"}
