"""The one helper that writes audit events."""
from webapp.extensions import db
from webapp.models import AuditEvent


def record(*, workspace_id: int, user_id: int | None, action: str, object_type: str,
           object_id=None, summary: str = "", client_ip: str | None = None) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits with its change."""
    event = AuditEvent(
        workspace_id=workspace_id,
        user_id=user_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        summary=summary[:500],
        client_ip=client_ip,
    )
    db.session.add(event)
    return event
