"""The one helper that writes audit events, and the one shape of an edit's changes."""
from flask import g, has_request_context

from webapp.extensions import db
from webapp.models import AuditEvent

SECRET_CHANGED = "changed"  # what `changes` holds for a secret field: that it changed, never a value
MAX_VALUE_LENGTH = 200  # a long value (a template) is cut to this many characters


def record(*, workspace_id: int, user_id: int | None, action: str, object_type: str,
           object_id=None, summary: str = "", client_ip: str | None = None,
           changes: dict | None = None, object_name: str | None = None) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits with its change.
    `changes` is {field: [old, new]} (build it with `change`/`secret_change`). In a request made
    with an API key (see blueprints/api), the event names that key too."""
    event = AuditEvent(
        workspace_id=workspace_id,
        user_id=user_id,
        api_key_id=g.get("api_key_id") if has_request_context() else None,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        summary=summary[:500],
        client_ip=client_ip,
        changes=changes or None,
        object_name=None if object_name is None else object_name[:200],
    )
    db.session.add(event)
    return event


def _storable(value):
    """A value as JSON keeps it: long text cut, tuples as lists, anything else as its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_LENGTH else value[:MAX_VALUE_LENGTH] + "…"
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _storable(item) for key, item in value.items()}
    return _storable(str(value))


def change(old, new) -> list:
    """One non-secret field's entry in `changes`: [old, new]."""
    return [_storable(old), _storable(new)]


def secret_change() -> str:
    """One secret field's entry in `changes`: only that it changed."""
    return SECRET_CHANGED
