"""Settings → Invites: make an invite link with a role (shown once), list the workspace's
invites, revoke. Owners and admins only (webapp/permissions.py refuses a viewer's POST)."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectField

from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm, InviteForm
from webapp.extensions import db
from webapp.models import Invite
from webapp.services import invite_mail, invites, signup
from webapp.sessions import keep_for_next_page, take_from_session
from webapp.tenancy import current_workspace_id, get_or_404, scoped
from webapp.timeutil import utcnow

NEW_INVITE = "new_invite"


class RoleInviteForm(InviteForm):
    role = SelectField("Role", default=invites.DEFAULT_ROLE, choices=[
        ("viewer", "Viewer: reads every page, changes nothing"),
        ("admin", "Admin: changes everything but members")],
        description="An owner can make them an owner later, on the members page.")


@bp.route("/invites", methods=["GET", "POST"])
@login_required
def invites_page():
    form = RoleInviteForm()
    status = 200
    if request.method == "POST" and not signup.invites_allowed():
        flash(signup.CLOSED_INVITES, "error")
        status = 403
    elif form.validate_on_submit():
        try:
            invite, token = invites.create(workspace_id=current_workspace_id(), invited_by=current_user,
                                           email=form.email.data, role=form.role.data,
                                           client_ip=request.remote_addr)
        except invites.InviteError as error:
            db.session.rollback()
            show_errors(form, {"email": str(error)})
        else:
            db.session.commit()
            url = invites.invite_url(current_app.config["TOCSIN_BASE_URL"], token)
            keep_for_next_page(NEW_INVITE, {"url": url, "email": invite.email, "role": invite.role})  # shown once, then forgotten
            flash(f"Invite for {invite.email} ({invite.role}) created. Copy the link now: it will not be shown again.", "success")
            _mail_if_configured(invite, url)
            return redirect(url_for("settings.invites_page"))
    rows = db.session.scalars(scoped(Invite).order_by(Invite.id.desc())).all()
    return render_template("settings/invites.html", form=form, invites=rows, now=utcnow(),
                           new_invite=take_from_session(NEW_INVITE), confirm_form=ConfirmForm(),
                           invites_allowed=signup.invites_allowed(),
                           closed_sentence=signup.CLOSED_INVITES), status


def _mail_if_configured(invite: Invite, url: str) -> None:
    """With TOCSIN_SMTP_URL set, also mail the link (after the commit: no connection waits on it)."""
    smtp_url = current_app.config.get("TOCSIN_SMTP_URL")
    if not smtp_url:
        return
    fields = {"to": invite.email, "workspace_name": invite.workspace.name, "inviter": current_user.email,
              "role": invite.role, "link": url}
    db.session.rollback()  # end the read those names took: the connection goes back to the pool
    failure = invite_mail.send_invite(smtp_url, **fields)
    if failure:
        flash(f"The invite could not be mailed: {failure}. Copy the link below and send it yourself.", "warning")
    else:
        flash(f"The link was also mailed to {invite.email}.", "success")


@bp.route("/invites/<int:invite_id>/revoke", methods=["POST"])
@login_required
def revoke_invite(invite_id: int):
    invite = get_or_404(Invite, invite_id)
    if ConfirmForm().validate_on_submit():
        try:
            invites.revoke(invite, user_id=current_user.id, client_ip=request.remote_addr)
        except invites.InviteError as error:
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(f"Invite for {invite.email} revoked: its link no longer works.", "success")
    return redirect(url_for("settings.invites_page"))
