"""Sign-up, log-in and log-out."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.blueprints.auth import bp
from webapp.blueprints.auth.forms import LoginForm, SignupForm
from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.navigation import safe_next
from webapp.extensions import db, login_manager
from webapp.models import User
from webapp.services import accounts

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(User, int(user_id))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.password.data, client_ip=request.remote_addr)
        except accounts.AccountError as error:
            show_errors(form, {"email": str(error)})
        else:
            db.session.commit()
            login_user(user)
            flash("Welcome to Tocsin. Your workspace is ready.", "success")
            return redirect(url_for("dashboard.overview"))
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            show_errors(form, {"password": "Wrong email or password."})
        else:
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next"), url_for("dashboard.overview")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
