"""Accepting an invite: `/invites/<token>` makes the invited address a member of the inviter's
workspace (services/invites.py), in every TOCSIN_SIGNUP mode but `closed`. A new address signs
up; an address with an account logs in (or, already logged in, confirms) and gets one more
membership, and this browser then works in the new workspace."""
from flask import after_this_request, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp import security
from webapp.blueprints.auth import bp
from webapp.blueprints.auth.forms import InviteJoinForm, InviteLoginForm, InviteSignupForm
from webapp.blueprints.auth.routes import _throttled
from webapp.blueprints.form_errors import show_errors
from webapp.extensions import db
from webapp.services import accounts, invites, signup, throttle, user_sessions

NO_LONGER_VALID = ("This invite link is no longer valid: it was used, revoked or has expired, or it was "
                   "copied incompletely. Ask for a new one.")


def _keep_the_link_private() -> None:
    """The page's URL is the secret: no cache keeps it, and no Referer carries it to the page's
    own stylesheet and script requests (which an access log would record)."""
    security.no_store()

    @after_this_request
    def no_referrer(response):
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def _not_valid(message: str = NO_LONGER_VALID, status: int = 404):
    return render_template("auth/invite_invalid.html", message=message), status


def _form_for(invite):
    """Which form the page shows: join (logged in as the address), log in (it has an account)
    or sign up (a new address)."""
    if current_user.is_authenticated:
        return InviteJoinForm(), "join"
    if accounts.find_user(invite.email) is not None:
        return InviteLoginForm(), "login"
    return InviteSignupForm(), "signup"


def _accept(invite, form, mode):
    """The member the form makes, or None after putting the reason on the form."""
    if mode == "join":
        return invites.join(invite, current_user._get_current_object(), client_ip=request.remote_addr)
    if mode == "signup":
        return invites.accept(invite, form.password.data, client_ip=request.remote_addr)
    user = accounts.authenticate(invite.email, form.password.data)
    if user is None:
        show_errors(form, {"password": "Wrong password for this address."})
        return None
    return invites.join(invite, user, client_ip=request.remote_addr)


@bp.route("/invites/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    _keep_the_link_private()
    if not signup.invites_allowed():
        return _not_valid(signup.CLOSED_INVITES, 403)
    invite = invites.find_valid(token)
    if invite is None:
        return _not_valid()
    if current_user.is_authenticated and current_user.email != invite.email:
        return _not_valid(f"This invite is for {invite.email}, and you are logged in as {current_user.email}: "
                          "log out, then open the link again.", 409)
    form, mode = _form_for(invite)
    if form.validate_on_submit():
        keys = [throttle.address_key(throttle.SIGNUP_ADDRESS, request.remote_addr)]
        wait = throttle.retry_after(keys)
        if wait:
            return _throttled(form, "auth/invite_accept.html", wait, invite=invite, mode=mode)
        throttle.record(keys)
        try:
            user = _accept(invite, form, mode)
        except invites.InviteError as error:
            db.session.rollback()
            return _not_valid(str(error), 409)
        if user is not None:
            workspace_name = invite.workspace.name
            if mode == "join":
                user_sessions.switch_workspace(user, invite.workspace_id)
                db.session.commit()
            else:
                db.session.commit()
                user_sessions.log_in(user, workspace_id=invite.workspace_id)
            flash(f"Welcome to Tocsin. You joined {workspace_name} as {invite.role}.", "success")
            return redirect(url_for("dashboard.overview"))
    return render_template("auth/invite_accept.html", form=form, invite=invite, mode=mode), \
        400 if form.errors else 200
