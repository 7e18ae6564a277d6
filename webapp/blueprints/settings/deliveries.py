"""Settings → Alerts → Deliveries: the history list, one delivery with its attempts, Redeliver,
Retry now, and an endpoint's "Retry all dead since …" (recovery after a receiver's outage)."""
from datetime import UTC, timedelta

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Optional

from webapp.blueprints.date_range import DateRange, read_date_range
from webapp.blueprints.form_errors import flash_errors
from webapp.blueprints.navigation import row_id_argument
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Endpoint, Rule
from webapp.services import delivery_hints, delivery_page, history, labels
from webapp.services import endpoints as endpoint_service
from webapp.services.delivery import pool, requeue, retry_now
from webapp.templating import reader_zone
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import utcnow

PAGE_SIZE = 50
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class HistoryFilterForm(FlaskForm):
    """The GET filters of the history list (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    endpoint_id = SelectField("Endpoint", coerce=str, validators=[Optional()])
    rule_id = SelectField("Rule", coerce=str, validators=[Optional()])
    status = SelectField("Status", choices=[SelectChoice("", "Any status")] + [
        SelectChoice(value, history.UI_STATUS_LABELS[value]) for value in history.UI_STATUSES], validators=[Optional()])
    kind = SelectField("Kind", choices=[SelectChoice("", "Alerts and tests"), SelectChoice("real", "Alerts only"),
                                        SelectChoice("test", "Tests only")], validators=[Optional()])
    # Read by the date-range picker (webapp/blueprints/date_range.py) in the reader's zone.
    since = StringField("Since", validators=[Optional()])
    until = StringField("Until", validators=[Optional()])


class RetryDeadForm(FlaskForm):
    since = DateTimeLocalField("Dead since", format=DATETIME_LOCAL, validators=[DataRequired()],
                               description="Every dead delivery to this endpoint created after this time is queued again.")
    # Set by the button a disabled endpoint shows ("Enable and retry N dead deliveries").
    enable = BooleanField("Enable the endpoint first")
    submit = SubmitField("Retry all dead deliveries")


def retry_dead_form() -> RetryDeadForm:
    """The form the endpoint page shows, its `since` defaulting to 24 hours ago."""
    form = RetryDeadForm()
    zone = reader_zone().zone
    form.since.label.text = f"Dead since (times in {zone.key})"
    if form.since.data is None:
        form.since.data = (utcnow() - timedelta(hours=24)).astimezone(zone).replace(tzinfo=None, second=0,
                                                                                     microsecond=0)
    return form


bp.add_app_template_global(labels, "labels")


@bp.app_template_global("dead_since_count")
def dead_since_count(endpoint: Endpoint, form: RetryDeadForm) -> int:
    """How many deliveries the endpoint page's "Retry all dead" button would queue again."""
    since = form.since.data
    return requeue.count_dead_since(endpoint, since.replace(tzinfo=UTC)) if since else 0


@bp.app_template_global("delivery_attempts")
def delivery_attempts(delivery: Delivery) -> str:
    """"attempt 2 of 8" for the delivery's current round (a redeliver starts a new one)."""
    return labels.attempt_words(delivery.attempt_count, delivery.max_attempts, delivery.round_base_attempts)


@bp.app_template_global("delivery_ui_status")
def delivery_ui_status(delivery: Delivery) -> str:
    return history.ui_status(delivery)


@bp.app_template_global("delivery_status_label")
def delivery_status_label(status: str) -> str:
    return history.UI_STATUS_LABELS.get(status, status)


@bp.app_template_global("delivery_badge")
def delivery_badge(status: str) -> str:
    return history.UI_STATUS_BADGES.get(status, status)


@bp.app_template_global("mask_signature")
def mask_signature(name: str, value) -> str:
    return history.mask_header(name, value)


@bp.app_template_global("failure_hint")
def failure_hint(error, http_status, **context) -> str | None:
    """A short hint for a delivery error (`error`, `http_status`), or None: for the delivery page and
    an endpoint's last error. `context`: outcome, is_test, timeout_seconds, retry_after."""
    return delivery_hints.failure_hint(error, http_status, **context)


@bp.app_template_global("outcome_words")
def outcome_words(outcome: str | None) -> str:
    """An attempt's outcome code (`server_error`) in words ("Receiver error")."""
    return delivery_hints.OUTCOME_WORDS.get(outcome or "", (outcome or "").replace("_", " ").capitalize())


@bp.app_template_filter("pretty_json")
def pretty_json(text: str | None) -> str | None:
    return delivery_page.pretty(text)


@bp.app_template_global("retry_dead_form")
def _retry_dead_form_global() -> RetryDeadForm:
    return retry_dead_form()


def _filter_choices(form: HistoryFilterForm) -> None:
    workspace_id = current_workspace_id()
    endpoints = db.session.scalars(sa.select(Endpoint).where(Endpoint.workspace_id == workspace_id)
                                   .order_by(Endpoint.deleted_at.is_not(None), Endpoint.name)).all()
    form.endpoint_id.choices = [SelectChoice("", "Any endpoint")] + [
        SelectChoice(str(endpoint.id), endpoint.name + (" (deleted)" if endpoint.deleted_at else ""))
        for endpoint in endpoints]
    rules = db.session.scalars(scoped(Rule).order_by(Rule.name)).all()
    form.rule_id.choices = [SelectChoice("", "Any rule")] + [SelectChoice(str(rule.id), rule.name) for rule in rules]


def _filters_from(form: HistoryFilterForm, date_range: DateRange) -> history.HistoryFilter:
    return history.HistoryFilter(
        endpoint_id=int(form.endpoint_id.data) if form.endpoint_id.data else None,
        rule_id=int(form.rule_id.data) if form.rule_id.data else None,
        status=form.status.data or None,
        is_test={"real": False, "test": True}.get(form.kind.data or ""),
        since=date_range.since,
        until=date_range.until,
    )


@bp.route("/alerts/deliveries")
@login_required
def deliveries():
    form = HistoryFilterForm(formdata=request.args)
    _filter_choices(form)
    date_range = read_date_range(form.since.data, form.until.data)
    valid = form.validate() and not date_range.errors
    filters = _filters_from(form, date_range) if valid else history.HistoryFilter()
    page = history.list_deliveries(current_workspace_id(), filters, limit=PAGE_SIZE,
                                   before=row_id_argument("before"),
                                   after=row_id_argument("after"))
    kept = {name: value for name, value in request.args.items() if name not in ("before", "after") and value}
    return render_template("settings/deliveries/list.html", form=form, page=page, kept=kept, valid=valid,
                           date_errors=date_range.errors)


@bp.route("/alerts/deliveries/<int:delivery_id>")
@login_required
def delivery_detail(delivery_id: int):
    delivery = get_or_404(Delivery, delivery_id)
    attempts = db.session.scalars(
        sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id,
                                         DeliveryAttempt.workspace_id == delivery.workspace_id)
        .order_by(DeliveryAttempt.number, DeliveryAttempt.id)).all()
    sent_request, rows = delivery_page.build(delivery, attempts)
    return render_template("settings/deliveries/detail.html", delivery=delivery, attempts=attempts,
                           sent_request=sent_request, rows=rows, short_error=delivery_page.short_error,
                           waiting=retry_now.is_waiting(delivery), confirm_form=ConfirmForm())


@bp.route("/alerts/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@login_required
def redeliver(delivery_id: int):
    delivery = get_or_404(Delivery, delivery_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; reload the page and try again.", "error")
    elif not requeue.redeliver(delivery, user_id=current_user_id(), client_ip=request.remote_addr,
                               via="the delivery page"):
        flash("This delivery is still being attempted; only delivered or dead deliveries can be redelivered.", "error")
    else:
        db.session.commit()
        pool.send_after_commit(current_app._get_current_object(), [delivery.id], current_workspace_id())
        made, budget = labels.attempt_round(delivery.attempt_count, delivery.max_attempts,
                                            delivery.round_base_attempts)
        flash(f"Delivery {delivery.message_id} queued again with the same webhook-id: a new round of up to "
              f"{budget} attempt{'s' if budget != 1 else ''} (earlier attempts stay listed).", "success")
    return redirect(url_for("settings.delivery_detail", delivery_id=delivery.id))


@bp.route("/alerts/deliveries/<int:delivery_id>/retry-now", methods=["POST"])
@login_required
def retry_delivery_now(delivery_id: int):
    """"Retry now" on a delivery waiting out its back-off: due at once, handed to the send pool."""
    delivery = get_or_404(Delivery, delivery_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; reload the page and try again.", "error")
        return redirect(url_for("settings.delivery_detail", delivery_id=delivery.id))
    try:
        retry_now.retry_now(delivery, user_id=current_user_id(), client_ip=request.remote_addr,
                            via="the delivery page")
    except retry_now.NotWaiting as refused:
        db.session.rollback()
        flash(f"Not retried: {refused.message}", "error")
    else:
        number, message_id = delivery.attempt_count + 1, delivery.message_id  # before the send pool changes them
        db.session.commit()
        pool.send_after_commit(current_app._get_current_object(), [delivery.id], current_workspace_id())
        flash(f"Attempt {number} of {message_id} is on its way; reload in a moment for its result.", "success")
    return redirect(url_for("settings.delivery_detail", delivery_id=delivery.id))


@bp.route("/alerts/endpoints/<int:endpoint_id>/retry-dead", methods=["POST"])
@login_required
def retry_dead(endpoint_id: int):
    endpoint = get_or_404(Endpoint, endpoint_id)
    form = RetryDeadForm()
    if not form.validate_on_submit():
        flash_errors(form, "Nothing was retried", "enter the time to retry from")
        return redirect(url_for("settings.endpoint_detail", endpoint_id=endpoint.id))
    since = form.since.data.replace(tzinfo=reader_zone().zone).astimezone(UTC)
    if not endpoint.is_active and form.enable.data:
        endpoint_service.set_active(endpoint, True, actor=endpoint_service.Actor(current_user_id(), request.remote_addr))
    try:
        count = requeue.retry_dead_since(endpoint, since, user_id=current_user_id(), client_ip=request.remote_addr)
    except requeue.EndpointDisabled:
        flash("Nothing was retried: this endpoint is disabled, so the deliveries would fail again at once. "
              "Use “Enable and retry” (or Enable) once the receiver is fixed.", "error")
        return redirect(url_for("settings.endpoint_detail", endpoint_id=endpoint.id))
    db.session.commit()
    noun = "dead delivery" if count == 1 else "dead deliveries"
    enabled = "Endpoint enabled; " if form.enable.data else ""
    flash(f"{enabled}{count} {noun} queued again, each with a fresh attempt budget.", "success")
    return redirect(url_for("settings.endpoint_detail", endpoint_id=endpoint.id))
