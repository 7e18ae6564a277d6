"""The one way to reach tenant rows: every query is scoped to the current workspace.

A request has a workspace either from the logged-in user's browser session (dashboard: the
workspace that session works in, switched from the header, see services/user_sessions.py) or
from its API key (`/api/v1`, set by the API blueprint). A foreign or unknown id answers 404,
never 403.
"""
import sqlalchemy as sa
from flask import abort, g, request
from flask_login import current_user

from webapp import validators
from webapp.extensions import db
from webapp.services import audit as audit_service


def current_workspace_id() -> int:
    workspace_id = g.get("workspace_id")
    if workspace_id is None and current_user.is_authenticated:
        workspace_id = current_user.workspace_id
    if workspace_id is None:
        abort(404)
    return workspace_id


def current_role() -> str | None:
    """The signed-in user's role in the current workspace (owner, admin, viewer), for pages."""
    return current_user.role if current_user.is_authenticated else None


def current_user_id() -> int | None:
    user_id = g.get("api_user_id")
    if user_id is None and current_user.is_authenticated:
        user_id = current_user.id
    return user_id


def scoped(model) -> sa.Select:
    """`select(model)` restricted to the current workspace (and to live rows when soft-deleted)."""
    statement = sa.select(model).where(model.workspace_id == current_workspace_id())
    if hasattr(model, "deleted_at"):
        statement = statement.where(model.deleted_at.is_(None))
    return statement


def get_or_404(model, object_id, *, include_deleted: bool = False):
    """One row of the current workspace by id, or a 404 for anything else."""
    if not validators.is_id(object_id):
        abort(404)
    object_id = int(object_id)
    statement = sa.select(model).where(model.id == object_id, model.workspace_id == current_workspace_id())
    if hasattr(model, "deleted_at") and not include_deleted:
        statement = statement.where(model.deleted_at.is_(None))
    row = db.session.scalar(statement)
    if row is None:
        abort(404)
    return row


def audit(action: str, object_type: str, object_id=None, summary: str = "") -> None:
    """Record an audit event for the current request (added to the session, not committed)."""
    audit_service.record(
        workspace_id=current_workspace_id(),
        user_id=current_user_id(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary,
        client_ip=request.remote_addr,
    )
