"""Settings → Account: the time zone pages show times in (default: the browser's), the password
(changing it ends every other session) and this person's signed-in sessions, each revocable.
Every role may use this page (webapp/permissions.py)."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp import validators
from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.services import account_settings, accounts, user_sessions
from webapp.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from webapp.templating import browser_zone_name
from webapp.timeutil import zone_names


class AccountForm(FlaskForm):
    time_zone = SelectField("Time zone", description="Times on every page are shown in this zone; "
                            "dates you type in filters are read in it too.")
    submit = SubmitField("Save")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD_LENGTH, message=f"The password must be at least {MIN_PASSWORD_LENGTH} characters."),
        Length(max=MAX_PASSWORD_LENGTH, message=f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")])
    confirm_password = PasswordField("Repeat the new password", validators=[
        DataRequired(), EqualTo("new_password", "The passwords differ.")])
    change = SubmitField("Change password")


def _account_form() -> AccountForm:
    form = AccountForm()
    browser = browser_zone_name() or "not known yet"
    form.time_zone.choices = [("", f"Browser's time zone (currently {browser})")] + [
        (name, name) for name in zone_names()]
    if request.method == "GET":
        form.time_zone.data = current_user.time_zone or ""
    return form


def _page(form=None, password_form=None):
    form = form or _account_form()
    password_form = password_form or PasswordForm(formdata=None)
    current = user_sessions.current()
    status = 400 if form.errors or password_form.errors else 200
    return render_template("settings/account.html", form=form, password_form=password_form,
                           browser_zone=browser_zone_name(), sessions=user_sessions.live_sessions(current_user),
                           current_session_id=current.id if current else None,
                           confirm_form=ConfirmForm()), status


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
    return _page(form=form)


@bp.post("/account/password")
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.new_password.data)
        except accounts.AccountError as error:
            show_errors(form, {"current_password": str(error)})
        else:
            ended = user_sessions.end_others(current_user)
            account_settings.record(current_user, "account.password",
                                    f"changed the password; {ended} other session(s) ended",
                                    client_ip=request.remote_addr)
            db.session.commit()
            flash("Your password is changed. Every other session of yours has ended.", "success")
            return redirect(url_for("settings.account"))
    return _page(password_form=form)


@bp.post("/account/sessions/<session_id>/end")
@login_required
def end_session(session_id: str):
    row = next((row for row in user_sessions.live_sessions(current_user)
                if validators.is_id(session_id) and row.id == int(session_id)), None)
    if row is None or not ConfirmForm().validate_on_submit():
        flash("That session has already ended.", "info")
        return redirect(url_for("settings.account"))
    is_this_one = user_sessions.current() is not None and row.id == user_sessions.current().id
    user_sessions.end(row)
    db.session.commit()
    if is_this_one:
        logout_user()
    flash("This session has ended." if is_this_one else "That session has ended: it is logged out.", "success")
    return redirect(url_for("auth.login" if is_this_one else "settings.account"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    if ConfirmForm().validate_on_submit():
        ended = user_sessions.end_others(current_user)
        db.session.commit()
        flash(f"{ended} other session(s) ended.", "success")
    return redirect(url_for("settings.account"))
