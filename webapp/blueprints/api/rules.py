"""/api/v1/rules: list, create, read, change (PATCH validates the merged rule), delete."""
from flask import jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import Rule
from webapp.services.alerting import rules as rule_service
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import isoformat

WRITABLE = set(rule_service.FIELDS)


def rule_json(rule: Rule) -> dict:
    return {
        "id": rule.id, "name": rule.name, "event": rule.event, "job_filter": rule.job_filter,
        "threshold_seconds": rule.threshold_seconds, "consecutive_count": rule.consecutive_count,
        "severity": rule.severity, "endpoint_ids": rule_service.live_endpoint_ids(rule),
        "max_attempts": rule.max_attempts, "cooldown_seconds": rule.cooldown_seconds,
        "notify_on_resolve": rule.notify_on_resolve, "repeat_interval_seconds": rule.repeat_interval_seconds,
        "is_active": rule.is_active, "created_at": isoformat(rule.created_at),
        "updated_at": isoformat(rule.updated_at),
    }


def _actor() -> dict:
    return {"user_id": current_user_id(), "client_ip": request.remote_addr}


def _invalid(error: rule_service.InvalidRule) -> ApiError:
    return ApiError(400, "validation_error", "The rule is not valid; see `fields`.", error.fields)


@bp.get("/rules")
def list_rules():
    return jsonify(keyset_page(scoped(Rule), Rule, lambda rules: [rule_json(rule) for rule in rules]))


@bp.post("/rules")
def create_rule():
    data = json_body(WRITABLE)
    try:
        rule = rule_service.create_rule(current_workspace_id(), data, **_actor())
    except rule_service.InvalidRule as error:
        raise _invalid(error) from None
    db.session.commit()
    return jsonify(rule_json(rule)), 201


@bp.get("/rules/<rule_id>")
def get_rule(rule_id):
    return jsonify(rule_json(get_or_404(Rule, rule_id)))


@bp.patch("/rules/<rule_id>")
def update_rule(rule_id):
    rule = get_or_404(Rule, rule_id)
    data = json_body(WRITABLE)
    try:
        rule_service.update_rule(rule, data, **_actor())
    except rule_service.InvalidRule as error:
        raise _invalid(error) from None
    db.session.commit()
    return jsonify(rule_json(rule))


@bp.delete("/rules/<rule_id>")
def delete_rule(rule_id):
    rule = get_or_404(Rule, rule_id)
    rule_service.delete_rule(rule, **_actor())
    db.session.commit()
    return "", 204
