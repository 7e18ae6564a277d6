"""What each role may do, enforced in one place: a before-request hook on every page.

owner: everything, and manages members; admin: everything but members; viewer: reads every
page and changes nothing (no reveal, no API key, no test send: all of them are POSTs). The JSON
API is outside this hook: it authenticates with keys, which only owners and admins can make.
"""
from flask import Flask, abort, request
from flask_login import current_user

from webapp.services import user_sessions
from webapp.tenancy import current_role

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
VIEWER_REFUSED = "Viewers can read every page but cannot change anything: ask an owner or admin."
OWNER_ONLY_REFUSED = "Only an owner can change roles or remove members: ask an owner."
WRITERS = frozenset({"owner", "admin"})
# A person's own things, which every member may change whatever their role.
ALLOWED_FOR_EVERY_ROLE = frozenset({
    "settings.account", "settings.change_password", "settings.end_session", "settings.end_other_sessions",
    "settings.leave_workspace", "workspaces.switch",
})
OWNER_ONLY = frozenset({"settings.change_member_role", "settings.remove_member"})


def init_app(app: Flask) -> None:
    app.before_request(keep_session_and_enforce_role)


def keep_session_and_enforce_role() -> None:
    if request.path.startswith("/api/") or request.endpoint in (None, "static"):
        return
    if not current_user.is_authenticated:
        return
    user_sessions.keep_current(current_user)
    if request.method not in READ_METHODS:
        refuse_unless_allowed(request.endpoint, current_role())


def refuse_unless_allowed(endpoint: str, role: str | None) -> None:
    """403 with a plain sentence when `role` may not send a write to `endpoint`."""
    if endpoint.startswith("auth.") or endpoint in ALLOWED_FOR_EVERY_ROLE:
        return
    if endpoint in OWNER_ONLY and role != "owner":
        abort(403, description=OWNER_ONLY_REFUSED if role == "admin" else VIEWER_REFUSED)
    if role not in WRITERS:
        abort(403, description=VIEWER_REFUSED)
