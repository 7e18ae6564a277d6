"""Alerts: the filtered list by state (tabs with counts, select several to acknowledge or
resolve at once), one alert's page (its run and deliveries; payload URLs point here), and a
person's actions: Acknowledge (with a note), Unacknowledge, Resolve."""
import dataclasses

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.dashboard import bp
from webapp.blueprints.date_range import read_date_range
from webapp.blueprints.navigation import page_number, safe_next
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import EVENT_LABELS, SEVERITIES, Alert, Job
from webapp.services.alerting import alerts as alert_service
from webapp.services.delivery import pool
from webapp.tenancy import current_workspace_id, get_or_404, scoped

PER_PAGE = 50
FILTER_NAMES = ("state", "alert_type", "severity", "job", "acknowledged", "since", "until")
JOB_SUGGESTIONS = 200
STATE_TABS = (("", "All"), ("firing", "Firing"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved"))
BULK_ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved"}


def _page_helpers() -> dict:
    return {"type_labels": EVENT_LABELS, "confirm_form": ConfirmForm()}


@bp.route("/alerts")
@login_required
def alerts():
    chosen = {name: request.args.get(name, "").strip() for name in FILTER_NAMES}
    error = None
    date_range = read_date_range(chosen["since"], chosen["until"])
    try:
        filters = alert_service.make_filter(alert_type=chosen["alert_type"], severity=chosen["severity"],
                                            job_slug=chosen["job"], acknowledged=chosen["acknowledged"],
                                            state=chosen["state"])
    except alert_service.InvalidFilter as invalid:
        error, filters = invalid, alert_service.AlertFilter()
    if date_range.errors and not error:
        error, filters = " ".join(date_range.errors.values()), alert_service.AlertFilter()
    elif not error:
        filters = dataclasses.replace(filters, since=date_range.since, until=date_range.until)
    statement = alert_service.filtered(current_workspace_id(), filters,
                                       unacknowledged_first=filters.state == "firing")
    page = db.paginate(statement, page=page_number(), per_page=PER_PAGE, error_out=False)
    items = list(page.items)
    kept = {name: value for name, value in chosen.items() if value}
    others = {name: value for name, value in kept.items() if name != "state"}
    tab_urls = {value: url_for("dashboard.alerts", **others, **({"state": value} if value else {}))
                for value, _ in STATE_TABS}
    job_slugs = db.session.scalars(scoped(Job).with_only_columns(Job.slug).order_by(Job.slug)
                                   .limit(JOB_SUGGESTIONS)).all()
    return render_template(
        "dashboard/alerts.html", page=page, alerts=items, chosen=chosen, filter_error=error,
        kept=kept, date_errors=date_range.errors, severities=SEVERITIES, alert_types=alert_service.ALERT_TYPES, job_slugs=job_slugs,
        state_tabs=STATE_TABS, tab_urls=tab_urls,
        counts=alert_service.state_counts(current_workspace_id(), dataclasses.replace(filters, state=None)),
        deliveries=alert_service.deliveries_by_alert(items), people=alert_service.people(items),
        **_page_helpers())


@bp.route("/alerts/<int:alert_id>")
@login_required
def alert_detail(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    return render_template("dashboard/alert_detail.html", alert=alert,
                           deliveries=alert_service.deliveries_by_alert([alert])[alert.id],
                           people=alert_service.people([alert]), **_page_helpers())


def _back(alert_id: int | None = None):
    """Back where the button was (only an alerts page, never elsewhere)."""
    fallback = url_for("dashboard.alert_detail", alert_id=alert_id) if alert_id else url_for("dashboard.alerts")
    return redirect(safe_next(request.form.get("next"), fallback, under="/alerts"))


def _actor() -> dict:
    return {"user_id": current_user.id, "client_ip": request.remote_addr}


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge_alert(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    if ConfirmForm().validate_on_submit():
        try:
            changed = alert_service.acknowledge(alert, note=request.form.get("note"), **_actor())
        except (alert_service.AlertResolved, alert_service.InvalidNote) as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(f"Alert #{alert.id} {'acknowledged' if changed else 'was already acknowledged'}.", "success")
    return _back(alert.id)


@bp.route("/alerts/<int:alert_id>/unacknowledge", methods=["POST"])
@login_required
def unacknowledge_alert(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    if ConfirmForm().validate_on_submit():
        try:
            changed = alert_service.unacknowledge(alert, **_actor())
        except alert_service.AlertResolved as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(f"Alert #{alert.id} {'is no longer acknowledged' if changed else 'was not acknowledged'}.",
                  "success")
    return _back(alert.id)


@bp.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
@login_required
def resolve_alert(alert_id: int):
    alert = get_or_404(Alert, alert_id)
    if ConfirmForm().validate_on_submit():
        try:
            delivery_ids = alert_service.resolve(alert, **_actor())
        except alert_service.AlertResolved as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            pool.send_after_commit(current_app._get_current_object(), delivery_ids, current_workspace_id())
            flash(f"Alert #{alert.id} resolved.", "success")
    return _back(alert.id)


@bp.route("/alerts/bulk", methods=["POST"])
@login_required
def bulk_alerts():
    """The list's "Acknowledge selected" / "Resolve selected": one POST for the checked alerts."""
    action = request.form.get("action")
    alert_ids = [int(value) for value in request.form.getlist("alert_ids") if value.isdigit()]
    if ConfirmForm().validate_on_submit() and action in BULK_ACTIONS:
        if not alert_ids:
            flash("Select at least one alert first.", "error")
            return _back()
        changed, delivery_ids = alert_service.act_on_many(current_workspace_id(), alert_ids, action, **_actor())
        db.session.commit()
        pool.send_after_commit(current_app._get_current_object(), delivery_ids, current_workspace_id())
        skipped = len(alert_ids) - changed
        flash(f"{changed} alert{'' if changed == 1 else 's'} {BULK_ACTIONS[action]}"
              + (f"; {skipped} needed no change." if skipped else "."), "success")
    return _back()
