"""Settings → API keys: create one with a scope (`ingest` proposed; the key is shown once, with
run-report snippets), list them with their scopes, revoke (confirmed)."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.settings import bp
from webapp.blueprints.settings.forms import API_KEY_SCOPE_EXPLANATIONS, ApiKeyForm, ConfirmForm
from webapp.extensions import db
from webapp.models import ApiKey
from webapp.services import accounts
from webapp.sessions import keep_for_next_page, take_from_session
from webapp.tenancy import current_workspace_id, get_or_404, scoped

NEW_API_KEY = "new_api_key"


@bp.route("/api-keys", methods=["GET", "POST"])
@login_required
def api_keys():
    form = ApiKeyForm()
    if form.validate_on_submit():
        api_key, full_key = accounts.create_api_key(
            workspace_id=current_workspace_id(), user_id=current_user.id, name=form.name.data,
            scope=form.scope.data, client_ip=request.remote_addr)
        db.session.commit()
        keep_for_next_page(NEW_API_KEY, {"key": full_key, "name": api_key.name,  # shown once, then forgotten
                                         "scope": api_key.scope})
        flash(f"API key “{api_key.name}” (scope {api_key.scope}) created. Copy it now: it will not be shown again.",
              "success")
        return redirect(url_for("settings.api_keys"))
    keys = db.session.scalars(scoped(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())).all()
    new_key = take_from_session(NEW_API_KEY)
    return render_template("settings/api_keys.html", form=form, keys=keys, scope_explanations=API_KEY_SCOPE_EXPLANATIONS,
                           new_key=new_key["key"] if new_key else None,
                           new_key_name=new_key.get("name") if new_key else None,
                           new_key_scope=new_key.get("scope") if new_key else None)


@bp.route("/api-keys/<int:key_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_api_key(key_id: int):
    """GET asks "Revoke key X?"; only the POST of that page's form revokes (one click never does)."""
    api_key = get_or_404(ApiKey, key_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        accounts.revoke_api_key(api_key, user_id=current_user.id, client_ip=request.remote_addr)
        db.session.commit()
        flash(f"API key “{api_key.name}” revoked: requests using it now get 401.", "success")
        return redirect(url_for("settings.api_keys"))
    if api_key.revoked_at is not None:
        flash(f"API key “{api_key.name}” is already revoked.", "info")
        return redirect(url_for("settings.api_keys"))
    return render_template("settings/confirm_revoke_api_key.html", api_key=api_key, form=form)
