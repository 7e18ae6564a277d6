"""Members of a workspace: change a role, remove a member, leave, rename the workspace. At least
one owner always remains; a member who loses a workspace loses its sessions at once. Every
change is audited with who made it."""
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Membership, User, Workspace
from webapp.models.accounts import MEMBER_ROLES
from webapp.services import audit, user_sessions

MAX_WORKSPACE_NAME = 120


class MemberError(ValueError):
    """A user-facing reason a membership change was refused."""


def members(workspace_id: int) -> list[Membership]:
    return list(db.session.scalars(
        sa.select(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id).order_by(Membership.created_at, Membership.id)))


def _owner_count(workspace_id: int) -> int:
    """Owners of the workspace, their rows locked on PostgreSQL until the caller commits, so two
    owners demoting each other at once cannot leave none (SQLite writes one at a time)."""
    return len(db.session.scalars(sa.select(Membership.id).where(
        Membership.workspace_id == workspace_id, Membership.role == "owner").with_for_update()).all())


def _keep_an_owner(membership: Membership, what: str) -> None:
    if membership.role == "owner" and _owner_count(membership.workspace_id) <= 1:
        raise MemberError(f"{membership.user.email} is the last owner of this workspace and cannot {what}: "
                          "make another member an owner first.")


def _record(membership: Membership, actor: User, action: str, summary: str, client_ip: str | None) -> None:
    audit.record(workspace_id=membership.workspace_id, user_id=actor.id, action=action,
                 object_type="membership", object_id=membership.id,
                 summary=f"{actor.email} {summary}", client_ip=client_ip)


def change_role(membership: Membership, role: str, *, actor: User, client_ip: str | None = None) -> bool:
    """True if the role changed; the caller commits."""
    if role not in MEMBER_ROLES:
        raise MemberError(f"A role is one of: {', '.join(MEMBER_ROLES)}.")
    if role == membership.role:
        return False
    if role != "owner":
        _keep_an_owner(membership, "stop being one")
    before, membership.role = membership.role, role
    _record(membership, actor, "member.role", f"changed {membership.user.email} from {before} to {role}", client_ip)
    return True


def remove(membership: Membership, *, actor: User, client_ip: str | None = None) -> None:
    """The member leaves the workspace and their sessions in it end; the caller commits."""
    _keep_an_owner(membership, "be removed" if membership.user_id != actor.id else "leave")
    email, user_id, workspace_id = membership.user.email, membership.user_id, membership.workspace_id
    if user_id == actor.id:
        _record(membership, actor, "member.leave", f"left the workspace ({membership.role})", client_ip)
    else:
        _record(membership, actor, "member.remove", f"removed {email} ({membership.role})", client_ip)
    db.session.delete(membership)
    db.session.flush()
    user_sessions.end_in_workspace(user_id, workspace_id)


def rename_workspace(workspace: Workspace, name: str, *, actor: User, client_ip: str | None = None) -> bool:
    name = (name or "").strip()
    if not name:
        raise MemberError("A workspace needs a name.")
    if len(name) > MAX_WORKSPACE_NAME:
        raise MemberError(f"A workspace name has at most {MAX_WORKSPACE_NAME} characters.")
    if name == workspace.name:
        return False
    before, workspace.name = workspace.name, name
    audit.record(workspace_id=workspace.id, user_id=actor.id, action="workspace.rename",
                 object_type="workspace", object_id=workspace.id,
                 summary=f"{actor.email} renamed the workspace from {before!r} to {name!r}", client_ip=client_ip)
    return True
