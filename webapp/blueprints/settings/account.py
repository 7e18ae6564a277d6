"""Settings → Account: the time zone pages show times in (default: the browser's)."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField

from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.settings import bp
from webapp.extensions import db
from webapp.services import account_settings
from webapp.templating import browser_zone_name
from webapp.timeutil import zone_names


class AccountForm(FlaskForm):
    time_zone = SelectField("Time zone", description="Times on every page are shown in this zone; "
                            "dates you type in filters are read in it too.")
    submit = SubmitField("Save")


def _account_form() -> AccountForm:
    form = AccountForm()
    browser = browser_zone_name() or "not known yet"
    form.time_zone.choices = [("", f"Browser's time zone (currently {browser})")] + [
        (name, name) for name in zone_names()]
    if request.method == "GET":
        form.time_zone.data = current_user.time_zone or ""
    return form


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = _account_form()
    if form.validate_on_submit():
        try:
            changed = account_settings.set_time_zone(current_user, form.time_zone.data,
                                                     client_ip=request.remote_addr)
        except account_settings.InvalidTimeZone as error:
            show_errors(form, {"time_zone": str(error)})
        else:
            db.session.commit()
            shown = form.time_zone.data or "your browser's time zone"
            flash(f"Times are now shown in {shown}." if changed else "Nothing changed.", "success")
            return redirect(url_for("settings.account"))
    return render_template("settings/account.html", form=form, browser_zone=browser_zone_name()), \
        400 if form.errors else 200
