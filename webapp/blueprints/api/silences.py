"""/api/v1/silences: list, create, read, change (PATCH `ends_at` to now ends it), delete.
Times are RFC 3339; one without an offset is read as UTC."""
from flask import jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import Silence
from webapp.services import silences as silence_service
from webapp.services.silences.windows import next_start, state
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import isoformat, utcnow

WRITABLE = set(silence_service.FIELDS)


def silence_json(silence: Silence) -> dict:
    """One silence; `state` is active, upcoming or expired now, `next_start_at` when an
    upcoming one next comes into force."""
    now = utcnow()
    return {
        "id": silence.id, "job_filter": silence.job_filter, "rule_id": silence.rule_id,
        "endpoint_id": silence.endpoint_id, "starts_at": isoformat(silence.starts_at),
        "ends_at": isoformat(silence.ends_at), "weekly": silence.weekly, "comment": silence.comment,
        "created_by_id": silence.created_by_id, "created_at": isoformat(silence.created_at),
        "state": state(silence, now), "next_start_at": isoformat(next_start(silence, now)),
    }


def _actor() -> dict:
    return {"user_id": current_user_id(), "client_ip": request.remote_addr}


def _invalid(error: silence_service.InvalidSilence) -> ApiError:
    return ApiError(400, "validation_error", "The silence is not valid; see `fields`.", error.fields)


@bp.get("/silences")
def list_silences():
    return jsonify(keyset_page(scoped(Silence), Silence, lambda rows: [silence_json(row) for row in rows]))


@bp.post("/silences")
def create_silence():
    data = json_body(WRITABLE)
    try:
        silence = silence_service.create(current_workspace_id(), data, **_actor())
    except silence_service.InvalidSilence as error:
        raise _invalid(error) from None
    db.session.commit()
    return jsonify(silence_json(silence)), 201


@bp.get("/silences/<silence_id>")
def get_silence(silence_id):
    return jsonify(silence_json(get_or_404(Silence, silence_id)))


@bp.patch("/silences/<silence_id>")
def update_silence(silence_id):
    silence = get_or_404(Silence, silence_id)
    data = json_body(WRITABLE)
    try:
        changed = silence_service.update(silence, data, **_actor())
    except silence_service.InvalidSilence as error:
        raise _invalid(error) from None
    if changed:
        db.session.commit()
    return jsonify(silence_json(silence))


@bp.delete("/silences/<silence_id>")
def delete_silence(silence_id):
    silence_service.delete(get_or_404(Silence, silence_id), **_actor())
    db.session.commit()
    return "", 204
