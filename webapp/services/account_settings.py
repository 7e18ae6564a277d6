"""A person's own settings (today: the time zone pages show times in), audited like other changes."""
from webapp.models import User
from webapp.services import audit
from webapp.timeutil import zone_or_none


class InvalidTimeZone(ValueError):
    """Not an IANA zone name this machine knows."""


def set_time_zone(user: User, name: str, *, client_ip: str | None = None) -> bool:
    """Store `name` (empty = the browser's zone); True if it changed. Raises InvalidTimeZone."""
    name = (name or "").strip()
    if name and zone_or_none(name) is None:
        raise InvalidTimeZone(f"{name[:64]!r} is not a time zone name such as Europe/Paris.")
    if name == (user.time_zone or ""):
        return False
    before, after = user.time_zone or "browser's", name or "browser's"
    user.time_zone = name
    record(user, "account.time_zone", f"time zone {before} → {after}", client_ip=client_ip)
    return True


def record(user: User, action: str, summary: str, *, client_ip: str | None = None) -> None:
    """Audit a change to a person's own account in the workspace they work in now."""
    if user.workspace_id is not None:
        audit.record(workspace_id=user.workspace_id, user_id=user.id, action=action,
                     object_type="user", object_id=user.id, summary=summary, client_ip=client_ip)
