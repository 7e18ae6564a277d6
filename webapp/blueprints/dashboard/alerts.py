"""Alerts: the filtered list (newest first, with each alert's delivery statuses), one alert's
page (its run and deliveries; payload URLs point here), and Acknowledge."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.dashboard import bp
from webapp.blueprints.navigation import safe_next
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import EVENT_LABELS, SEVERITIES, Alert, Job
from webapp.services.alerting import alerts as alert_service
from webapp.tenancy import current_workspace_id, get_or_404, scoped

PER_PAGE = 50
FILTER_NAMES = ("alert_type", "severity", "job", "acknowledged", "since")
JOB_SUGGESTIONS = 200


def _page_helpers() -> dict:
    return {"type_labels": EVENT_LABELS, "confirm_form": ConfirmForm()}


@bp.route("/alerts")
@login_required
def alerts():
    chosen = {name: request.args.get(name, "").strip() for name in FILTER_NAMES}
    error = None
    try:
        filters = alert_service.make_filter(alert_type=chosen["alert_type"], severity=chosen["severity"],
                                            job_slug=chosen["job"], acknowledged=chosen["acknowledged"],
                                            since=chosen["since"])
    except alert_service.InvalidFilter as invalid:
        error, filters = invalid, alert_service.AlertFilter()
    page = db.paginate(alert_service.filtered(current_workspace_id(), filters),
                       page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False)
    items = list(page.items)
    job_slugs = db.session.scalars(scoped(Job).with_only_columns(Job.slug).order_by(Job.slug)
                                   .limit(JOB_SUGGESTIONS)).all()
    return render_template(
        "dashboard/alerts.html", page=page, alerts=items, chosen=chosen, filter_error=error,
        kept={name: value for name, value in chosen.items() if value}, severities=SEVERITIES,
        alert_types=alert_service.ALERT_TYPES, job_slugs=job_slugs,
        deliveries=alert_service.deliveries_by_alert(items), acknowledgers=alert_service.acknowledgers(items),
        **_page_helpers())


@bp.route("/alerts/<int:alert_id>")
@login_required
def alert_detail(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    return render_template("dashboard/alert_detail.html", alert=alert,
                           deliveries=alert_service.deliveries_by_alert([alert])[alert.id],
                           acknowledgers=alert_service.acknowledgers([alert]), **_page_helpers())


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge_alert(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    if ConfirmForm().validate_on_submit():
        if alert_service.acknowledge(alert, user_id=current_user.id, client_ip=request.remote_addr):
            db.session.commit()
            flash(f"Alert #{alert.id} acknowledged.", "success")
        else:
            flash(f"Alert #{alert.id} was already acknowledged.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("dashboard.alert_detail", alert_id=alert.id),
                              under="/alerts"))  # only back to an alerts page, never elsewhere
