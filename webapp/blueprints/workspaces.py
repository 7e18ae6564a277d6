"""The header's workspace switcher: `POST /workspaces/switch` moves this browser session to
another workspace of the signed-in user; every scoped query follows it from the next request."""
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from webapp import validators
from webapp.extensions import db
from webapp.services import user_sessions

bp = Blueprint("workspaces", __name__)


@bp.post("/workspaces/switch")
@login_required
def switch():
    workspace_id = request.form.get("workspace_id", "")
    if not validators.is_id(workspace_id) or not user_sessions.switch_workspace(current_user, int(workspace_id)):
        flash("You are not a member of that workspace.", "error")
        return redirect(url_for("dashboard.overview")), 303
    db.session.commit()
    membership = current_user.membership_in(int(workspace_id))
    flash(f"You are now working in {membership.workspace.name} ({membership.role}).", "success")
    return redirect(url_for("dashboard.overview")), 303
