"""Settings → Members: who works in this workspace and with which role; owners change roles and
remove members, owners and admins rename the workspace, anyone may leave (webapp/permissions.py
decides who may send which POST)."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import Membership, Workspace
from webapp.models.accounts import MEMBER_ROLES
from webapp.services import members as service
from webapp.services import user_sessions
from webapp.tenancy import current_workspace_id, get_or_404


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[(role, role) for role in MEMBER_ROLES])
    submit = SubmitField("Change role")


class WorkspaceNameForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired(), Length(max=service.MAX_WORKSPACE_NAME)])
    submit = SubmitField("Rename")


@bp.get("/members")
@login_required
def members():
    workspace = db.session.get(Workspace, current_workspace_id())
    return _page(WorkspaceNameForm(name=workspace.name), workspace)


def _page(name_form, workspace, status=200):
    return render_template("settings/members.html", members=service.members(workspace.id), workspace=workspace,
                           name_form=name_form, role_form=RoleForm(), confirm_form=ConfirmForm(),
                           role=current_user.role), status


@bp.post("/members/workspace-name")
@login_required
def rename_workspace():
    workspace = db.session.get(Workspace, current_workspace_id())
    form = WorkspaceNameForm()
    if not form.validate_on_submit():
        return _page(form, workspace, 400)
    try:
        changed = service.rename_workspace(workspace, form.name.data, actor=current_user,
                                           client_ip=request.remote_addr)
    except service.MemberError as error:
        form.name.errors = [str(error)]
        return _page(form, workspace, 400)
    db.session.commit()
    flash(f"The workspace is now called {workspace.name}." if changed else "Nothing changed.", "success")
    return redirect(url_for("settings.members"))


@bp.post("/members/<membership_id>/role")
@login_required
def change_member_role(membership_id: str):
    membership = get_or_404(Membership, membership_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            changed = service.change_role(membership, form.role.data, actor=current_user,
                                          client_ip=request.remote_addr)
        except service.MemberError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(f"{membership.user.email} is now {membership.role}." if changed else "Nothing changed.", "success")
    else:
        flash("Choose one of the roles owner, admin or viewer.", "error")
    return redirect(url_for("settings.members"))


@bp.post("/members/<membership_id>/remove")
@login_required
def remove_member(membership_id: str):
    membership = get_or_404(Membership, membership_id)
    if membership.user_id == current_user.id:
        return leave_workspace()
    return _remove(membership, f"{membership.user.email} was removed: their sessions here have ended.")


@bp.post("/members/leave")
@login_required
def leave_workspace():
    membership = current_user.membership_in(current_workspace_id())
    return _remove(membership, f"You left {membership.workspace.name}.")


def _remove(membership, sentence):
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("settings.members"))
    leaving = membership.user_id == current_user.id
    try:
        service.remove(membership, actor=current_user, client_ip=request.remote_addr)
    except service.MemberError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("settings.members"))
    db.session.commit()
    flash(sentence, "success")
    if leaving:
        db.session.refresh(current_user)
        if not current_user.memberships:
            logout_user()
            return redirect(url_for("auth.login"))
        _carry_on_elsewhere()
    return redirect(url_for("dashboard.overview" if leaving else "settings.members"))


def _carry_on_elsewhere():
    """After leaving, this browser carries on in the user's next workspace with a new session."""
    user = current_user._get_current_object()  # not the proxy: Flask-Login keeps what it is given
    user_sessions.log_in(user, workspace_id=user.memberships[0].workspace_id)
