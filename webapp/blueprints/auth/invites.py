"""Accepting an invite: `/invites/<token>` signs the invited address up into the inviter's
workspace (services/invites.py), in every TOCSIN_SIGNUP mode but `closed`."""
from flask import after_this_request, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from webapp import security
from webapp.blueprints.auth import bp
from webapp.blueprints.auth.forms import InviteSignupForm
from webapp.blueprints.auth.routes import _throttled
from webapp.extensions import db
from webapp.services import accounts, invites, signup, throttle

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


@bp.route("/invites/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    _keep_the_link_private()
    if current_user.is_authenticated:
        flash(f"You are logged in as {current_user.email}: log out to use an invite link.", "info")
        return redirect(url_for("dashboard.overview"))
    if not signup.invites_allowed():
        return _not_valid(signup.CLOSED_INVITES, 403)
    invite = invites.find_valid(token)
    if invite is None:
        return _not_valid()
    if accounts.find_user(invite.email) is not None:
        return _not_valid(invites.already_has_account(invite.email), 409)
    form = InviteSignupForm()
    if form.validate_on_submit():
        address = throttle.address_key(throttle.SIGNUP_ADDRESS, request.remote_addr)
        wait = throttle.retry_after([address])
        if wait:
            return _throttled(form, "auth/invite_accept.html", wait, invite=invite)
        throttle.record([address])
        try:
            user = invites.accept(invite, form.password.data, client_ip=request.remote_addr)
        except invites.InviteError as error:
            db.session.rollback()
            return _not_valid(str(error), 409)
        db.session.commit()
        login_user(user)
        flash(f"Welcome to Tocsin. You joined {invite.workspace.name}.", "success")
        return redirect(url_for("dashboard.overview"))
    return render_template("auth/invite_accept.html", form=form, invite=invite)
