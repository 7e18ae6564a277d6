"""Settings → Silences: the list (active, upcoming, expired), the create form, "End now", and
the quick "Silence 1 h / until tomorrow 09:00" buttons of the alert and job pages. Views stay
thin: `services.silences` validates, changes and audits."""
import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.navigation import safe_next
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.blueprints.settings.silence_forms import QuickSilenceForm, SilenceForm
from webapp.extensions import db
from webapp.models import Endpoint, Rule, Silence, User
from webapp.services import silences as silence_service
from webapp.services.silences import holding
from webapp.services.silences.windows import STATES, describe_weekly, next_start, state
from webapp.templating import reader_zone
from webapp.tenancy import current_workspace_id, get_or_404, scoped
from webapp.timeutil import utcnow

EXPIRED_SHOWN = 50


def _actor() -> dict:
    return {"user_id": current_user.id, "client_ip": request.remote_addr}


@bp.app_template_global()
def silenced_alert_count() -> int:
    """The overview's "silenced" card: firing alerts a silence holds back now."""
    return holding.silenced_alert_count(current_workspace_id())


@bp.route("/silences")
@login_required
def silences():
    now = utcnow()
    rows = db.session.scalars(scoped(Silence).order_by(Silence.starts_at.desc(), Silence.id.desc())).all()
    grouped = {name: [] for name in STATES}
    for silence in rows:
        grouped[state(silence, now)].append(silence)
    grouped["expired"] = grouped["expired"][:EXPIRED_SHOWN]
    names = {
        "rules": dict(db.session.execute(sa.select(Rule.id, Rule.name).where(
            Rule.workspace_id == current_workspace_id())).all()),
        "endpoints": dict(db.session.execute(sa.select(Endpoint.id, Endpoint.name).where(
            Endpoint.workspace_id == current_workspace_id())).all()),
        "people": dict(db.session.execute(sa.select(User.id, User.email).where(
            User.id.in_({silence.created_by_id for silence in rows if silence.created_by_id}))).all())}
    return render_template("silences/list.html", grouped=grouped, names=names, now=now, next_start=next_start,
                           describe_weekly=describe_weekly, confirm_form=ConfirmForm())


@bp.route("/silences/new", methods=["GET", "POST"])
@login_required
def new_silence():
    form = SilenceForm()
    form.set_choices(db.session.scalars(scoped(Rule).order_by(Rule.name)).all(),
                     db.session.scalars(scoped(Endpoint).order_by(Endpoint.name)).all())
    if request.method == "GET":
        for name in ("job_filter", "rule_id", "endpoint_id"):  # "custom" from an alert or a job: prefilled
            getattr(form, name).data = request.args.get(name, "")[:200]
        form.timezone.data = reader_zone().name
    elif form.validate_on_submit():
        try:
            silence = silence_service.create(current_workspace_id(), form.service_input(), zone=reader_zone().zone,
                                             **_actor())
        except silence_service.InvalidSilence as error:
            show_errors(form, error.fields)
        else:
            db.session.commit()
            flash(f"Silence #{silence.id} created: {silence_service.summary(silence)}.", "success")
            return redirect(url_for("settings.silences"))
    return render_template("silences/form.html", form=form)


@bp.route("/silences/<int:silence_id>/end", methods=["POST"])
@login_required
def end_silence(silence_id: int):
    silence = get_or_404(Silence, silence_id)
    if ConfirmForm().validate_on_submit():
        if silence_service.end_now(silence, **_actor()):
            db.session.commit()
            flash(f"Silence #{silence.id} ended: the alerts it held that still fire are delivered within seconds.", "success")
        else:
            flash(f"Silence #{silence.id} had ended already.", "info")
    return redirect(url_for("settings.silences"))


@bp.route("/silences/quick", methods=["POST"])
@login_required
def quick_silence():
    """Silence a job (and, from an alert, its rule) for an hour or until tomorrow 09:00 on the
    reader's clock, then go back to the page the button was on."""
    form = QuickSilenceForm()
    back = safe_next(form.next.data, url_for("settings.silences"))
    if not form.validate_on_submit() or form.until.data not in silence_service.QUICK_CHOICES:
        flash("The silence was not created: choose 1 h or tomorrow 09:00.", "error")
        return redirect(back)
    data = {"job_filter": form.job_filter.data, "rule_id": form.rule_id.data or None,
            "ends_at": silence_service.quick_end(form.until.data, reader_zone().zone),
            "comment": "Quick silence"}
    try:
        silence = silence_service.create(current_workspace_id(), data, **_actor())
    except silence_service.InvalidSilence as error:
        flash(f"The silence was not created: {' '.join(error.fields.values())}", "error")
        return redirect(back)
    db.session.commit()
    flash(f"Silence #{silence.id} created: {silence_service.summary(silence)}.", "success")
    return redirect(back)
