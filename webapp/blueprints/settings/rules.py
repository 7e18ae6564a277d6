"""Settings → Alerts → Rules: list, create, edit, detail, delete (with confirmation), pause/resume.
Views stay thin: the form carries the input, `services.rules` validates, changes and audits."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.navigation import safe_next
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.blueprints.settings.rule_forms import RuleForm
from webapp.extensions import db
from webapp.models import Endpoint, Rule
from webapp.services import history
from webapp.services.alerting import rules as rule_service
from webapp.tenancy import current_workspace_id, get_or_404, scoped

RECENT_DELIVERIES = 10


def _live_endpoints() -> list[Endpoint]:
    return list(db.session.scalars(scoped(Endpoint).order_by(Endpoint.name, Endpoint.id)))


def _render_form(form: RuleForm, rule: Rule | None, endpoints: list[Endpoint]):
    return render_template("settings/rules/form.html", form=form, rule=rule, endpoints=endpoints)


def _actor() -> dict:
    return {"user_id": current_user.id, "client_ip": request.remote_addr}


@bp.route("/alerts/rules")
@login_required
def rules():
    rule_list = db.session.scalars(scoped(Rule).order_by(Rule.name, Rule.id)).all()
    return render_template("settings/rules/list.html", rules=rule_list, describe=rule_service.describe_event,
                           has_endpoints=bool(_live_endpoints()))


@bp.route("/alerts/rules/new", methods=["GET", "POST"])
@login_required
def new_rule():
    form, endpoints = RuleForm(), _live_endpoints()
    form.set_endpoint_choices(endpoints)
    if request.method == "GET":
        form.preselect_event(request.args.get("event"))
    if form.validate_on_submit():
        try:
            rule = rule_service.create_rule(current_workspace_id(), form.service_input(), **_actor())
        except rule_service.InvalidRule as error:
            show_errors(form, error.fields)
        else:
            db.session.commit()
            flash(f"Rule “{rule.name}” created.", "success")
            return redirect(url_for("settings.rule_detail", rule_id=rule.id))
    return _render_form(form, None, endpoints)


@bp.route("/alerts/rules/<int:rule_id>")
@login_required
def rule_detail(rule_id: int):
    rule = get_or_404(Rule, rule_id)
    workspace_id = current_workspace_id()
    return render_template(
        "settings/rules/detail.html", rule=rule, describe=rule_service.describe_event,
        deliveries=history.recent_deliveries(workspace_id, rule_id=rule.id, limit=RECENT_DELIVERIES),
        success_rate=history.success_rate(workspace_id, rule_id=rule.id), confirm_form=ConfirmForm())


@bp.route("/alerts/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@login_required
def edit_rule(rule_id: int):
    rule = get_or_404(Rule, rule_id)
    form, endpoints = RuleForm(), _live_endpoints()
    form.set_endpoint_choices(endpoints)
    if request.method == "GET":
        form.fill_from(rule)
    elif form.validate_on_submit():
        try:
            changed = rule_service.update_rule(rule, form.service_input(), **_actor())
        except rule_service.InvalidRule as error:  # refused before anything was changed
            show_errors(form, error.fields)
        else:
            db.session.commit()
            flash(f"Rule “{rule.name}” saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("settings.rule_detail", rule_id=rule.id))
    return _render_form(form, rule, endpoints)


@bp.route("/alerts/rules/<int:rule_id>/delete", methods=["GET", "POST"])
@login_required
def delete_rule(rule_id: int):
    rule = get_or_404(Rule, rule_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = rule.name
        rule_service.delete_rule(rule, **_actor())
        db.session.commit()
        flash(f"Rule “{name}” deleted. Its alerts and deliveries stay in the history.", "success")
        return redirect(url_for("settings.rules"))
    return render_template("settings/rules/delete.html", rule=rule, form=form, describe=rule_service.describe_event)


def _set_active(rule_id: int, active: bool):
    rule = get_or_404(Rule, rule_id)
    if ConfirmForm().validate_on_submit() and rule_service.set_active(rule, active, **_actor()):
        db.session.commit()
        flash(f"Rule “{rule.name}” {'resumed: it raises alerts again' if active else 'paused: it raises no alerts'}.",
              "success")
    return redirect(safe_next(request.form.get("next"), url_for("settings.rule_detail", rule_id=rule.id),
                              under="/settings/alerts/rules"))  # only back to a rules page


@bp.route("/alerts/rules/<int:rule_id>/enable", methods=["POST"])
@login_required
def enable_rule(rule_id: int):
    return _set_active(rule_id, True)


@bp.route("/alerts/rules/<int:rule_id>/disable", methods=["POST"])
@login_required
def disable_rule(rule_id: int):
    return _set_active(rule_id, False)
