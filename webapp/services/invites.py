"""Invites: an owner or admin makes a single-use link (`<TOCSIN_BASE_URL>/invites/<token>`,
7 days, bound to one email, revocable) that lets that address join their workspace with the
role the invite names (admin or viewer): a new address signs up, an existing account logs in
and gets one more membership.

The link is shown once and only its SHA-256 is stored. Every create, revoke and accept is
audited, never with the token.
"""
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Invite, Membership, User
from webapp.models.accounts import INVITE_ROLES
from webapp.services import accounts, audit
from webapp.timeutil import utcnow

INVITE_LIFETIME = timedelta(days=7)
DEFAULT_ROLE = "viewer"
MAX_TOKEN_LENGTH = 100


class InviteError(ValueError):
    """A user-facing reason an invite could not be made, revoked or used."""


def hash_token(token: str) -> str:
    """Tokens are 32 random bytes, so one SHA-256 is enough to store them (as API keys)."""
    return hashlib.sha256(token.encode()).hexdigest()


def invite_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invites/{token}"


def already_a_member(email: str) -> str:
    return f"{email} is already a member of this workspace."


def _is_member(email: str, workspace_id: int) -> bool:
    user = accounts.find_user(email)
    return user is not None and user.membership_in(workspace_id) is not None


def create(*, workspace_id: int, invited_by: User, email: str, role: str = DEFAULT_ROLE,
           client_ip: str | None = None) -> tuple[Invite, str]:
    """A new invite and its token in clear, which is never stored or shown again; the caller commits."""
    try:
        email = accounts.valid_email(email)
    except accounts.AccountError as error:
        raise InviteError(str(error)) from None
    if role not in INVITE_ROLES:
        raise InviteError(f"An invite grants one of these roles: {', '.join(INVITE_ROLES)}.")
    if _is_member(email, workspace_id):
        raise InviteError(already_a_member(email))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invite = Invite(workspace_id=workspace_id, email=email, role=role, token_hash=hash_token(token),
                    invited_by_id=invited_by.id, created_at=now, expires_at=now + INVITE_LIFETIME)
    db.session.add(invite)
    db.session.flush()
    audit.record(workspace_id=workspace_id, user_id=invited_by.id, action="invite.create",
                 object_type="invite", object_id=invite.id,
                 summary=f"invited {email} as {role} (link valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC)",
                 client_ip=client_ip)
    return invite, token


def revoke(invite: Invite, *, user_id: int, client_ip: str | None = None) -> None:
    """The link stops working at once; an accepted invite is history and cannot be revoked."""
    if invite.accepted_at is not None:
        raise InviteError(f"The invite for {invite.email} was already accepted.")
    if invite.revoked_at is not None:
        return
    invite.revoked_at = utcnow()
    audit.record(workspace_id=invite.workspace_id, user_id=user_id, action="invite.revoke",
                 object_type="invite", object_id=invite.id, summary=f"revoked the invite for {invite.email}",
                 client_ip=client_ip)


def _usable(now):
    return sa.and_(Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > now)


def find_valid(token: str) -> Invite | None:
    """The pending invite a link's token names, or None (unknown, used, revoked or expired)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    return db.session.scalar(sa.select(Invite).where(Invite.token_hash == hash_token(token), _usable(utcnow())))


def accept(invite: Invite, password: str, *, client_ip: str | None = None) -> User:
    """Create the invited user (a new address) and make them a member; the caller commits."""
    if accounts.find_user(invite.email) is not None:
        raise InviteError(f"{invite.email} already has an account: log in to accept the invite.")
    try:
        user = accounts.new_user(invite.email, password)
    except accounts.AccountError as error:
        raise InviteError(str(error)) from None
    return _join(invite, user, client_ip)


def join(invite: Invite, user: User, *, client_ip: str | None = None) -> User:
    """An existing account, logged in as the invited address, becomes a member; the caller commits."""
    if user.email != invite.email:
        raise InviteError(f"This invite is for {invite.email}, not for {user.email}.")
    if user.membership_in(invite.workspace_id) is not None:
        raise InviteError(already_a_member(user.email))
    return _join(invite, user, client_ip)


def _join(invite: Invite, user: User, client_ip: str | None) -> User:
    """Use the invite up and add the membership. Single use even when two requests race: the
    invite is claimed by one conditional UPDATE, and the loser gets InviteError."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Invite).where(Invite.id == invite.id, _usable(now))
        .values(accepted_at=now, accepted_by_id=user.id).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise InviteError("This invite link is no longer valid.")
    db.session.add(Membership(user_id=user.id, workspace_id=invite.workspace_id, role=invite.role))
    inviter = invite.invited_by.email if invite.invited_by else "a former member"
    audit.record(workspace_id=invite.workspace_id, user_id=user.id, action="invite.accept",
                 object_type="invite", object_id=invite.id,
                 summary=f"{user.email} joined as {invite.role} with the invite from {inviter}",
                 client_ip=client_ip)
    db.session.flush()
    db.session.refresh(invite)
    db.session.refresh(user)
    return user
