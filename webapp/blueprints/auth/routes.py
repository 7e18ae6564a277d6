"""Sign-up, log-in and log-out."""
from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from webapp.blueprints.auth import bp
from webapp.blueprints.auth.forms import LoginForm, SignupForm
from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.navigation import safe_next
from webapp.extensions import db, login_manager
from webapp.services import accounts, throttle, user_sessions
from webapp.services import signup as signup_policy

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"
NO_WORKSPACE = ("This account is no longer a member of any workspace: ask an owner of one for an invite "
                "link, then log in from it.")


@login_manager.user_loader
def load_user(session_id: str):
    return user_sessions.load(session_id)


def _throttled(form, template: str, seconds: int, **context):
    """429 with Retry-After, the form kept, and the wait in words on the form."""
    minutes = max(1, round(seconds / 60))
    show_errors(form, {"email": f"Too many attempts from here or for this account. Try again in "
                                f"{minutes} minute{'s' if minutes != 1 else ''}."})
    response = make_response(render_template(template, form=form, **context), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    if not signup_policy.open_signup_allowed():  # the first user of an empty instance always may
        page = render_template("auth/signup_unavailable.html", reason=signup_policy.signup_refusal())
        return page, (403 if request.method == "POST" else 200)
    form = SignupForm()
    if form.validate_on_submit():
        address = throttle.address_key(throttle.SIGNUP_ADDRESS, request.remote_addr)
        wait = throttle.retry_after([address])
        if wait:
            return _throttled(form, "auth/signup.html", wait)
        throttle.record([address])
        try:
            user = accounts.create_user(form.email.data, form.password.data, client_ip=request.remote_addr)
        except accounts.AccountError as error:
            show_errors(form, {"email": str(error)})
        else:
            user_sessions.log_in(user)
            flash("Welcome to Tocsin. Your workspace is ready.", "success")
            return redirect(url_for("dashboard.overview"))
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    form = LoginForm()
    if form.validate_on_submit():
        keys = [throttle.account_key(form.email.data),
                throttle.address_key(throttle.LOGIN_ADDRESS, request.remote_addr)]
        wait = throttle.retry_after(keys)
        if wait:
            return _throttled(form, "auth/login.html", wait)
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            throttle.record(keys)
            show_errors(form, {"password": "Wrong email or password."})
        elif not user.memberships:
            db.session.rollback()
            show_errors(form, {"email": NO_WORKSPACE})
        else:
            throttle.clear(keys[0])
            user_sessions.log_in(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next"), url_for("dashboard.overview")))
    return render_template("auth/login.html", form=form, signup_open=signup_policy.open_signup_allowed())


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    accounts.end_sessions(current_user)
    if user_sessions.current() is not None:
        user_sessions.end(user_sessions.current())
    db.session.commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
