"""Signed-in browser sessions kept on the server: listed and revocable on the account page, each
bound to the workspace it works in (switched from the header).

Flask-Login keeps one identity string in the session cookie and the remember-me cookie:
`<user id>.<session version>.<token>`. The token names one `UserSession` row by its SHA-256, so
ending the row ends both cookies at once; the version still ends every session of a user
(log-out). Strings from before this module (`<id>` or `<id>.<version>`) still load and get a row
on their first request.
"""
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import g, request, session
from flask_login import login_user

from webapp import validators
from webapp.database import serialised_writes
from webapp.extensions import db
from webapp.models import User
from webapp.models.accounts import UserSession
from webapp.timeutil import utcnow

LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 64


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_row(user: User, workspace_id: int | None) -> tuple[UserSession, str]:
    token = secrets.token_urlsafe(24)
    row = UserSession(user_id=user.id, token_hash=_hash(token), workspace_id=workspace_id,
                      client_ip=(request.remote_addr or "")[:45],
                      user_agent=(request.user_agent.string or "")[:200])
    db.session.add(row)
    db.session.flush()
    return row, token


def _bind(user: User, token: str) -> None:
    session["_user_id"] = f"{user.get_id()}.{token}"


def log_in(user: User, *, remember: bool = False, workspace_id: int | None = None) -> UserSession:
    """Log `user` in on this browser with a new session row (in `workspace_id`, or their first
    workspace) and commit it."""
    row, token = _new_row(user, workspace_id or user.workspace_id)
    db.session.commit()
    login_user(user, remember=remember)
    _bind(user, token)
    g.user_session = row
    user.session_workspace_id = row.workspace_id
    return row


def load(session_id: str) -> User | None:
    """The user an identity string names, or None when it is malformed, its version ended, its
    row ended, or its workspace is no longer theirs (a removed member is logged out at once)."""
    user_id, _, rest = str(session_id).partition(".")
    version, _, token = rest.partition(".")
    if not validators.is_id(user_id) or (version and not (version == "0" or validators.is_id(version))):
        return None
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or int(version or 0) != (user.session_version or 0):
        return None
    user.session_workspace_id = None
    if not token:
        return user  # an identity from before session rows: `adopt` gives it one
    row = db.session.scalar(sa.select(UserSession).where(
        UserSession.token_hash == _hash(token), UserSession.user_id == user.id, UserSession.ended_at.is_(None)))
    if row is None or (row.workspace_id is not None and user.membership_in(row.workspace_id) is None):
        return None
    g.user_session = row
    user.session_workspace_id = row.workspace_id
    return user


def current() -> UserSession | None:
    return g.get("user_session")


def keep_current(user: User) -> None:
    """Once per request for a signed-in page: give an older identity string a row, and note when
    this session was last seen (at most once a minute, so reading pages rarely writes)."""
    row = current()
    now = utcnow()
    if row is not None and now - row.last_seen_at < LAST_SEEN_RESOLUTION:
        return
    with serialised_writes():
        if row is None:
            row, token = _new_row(user, user.workspace_id)
            _bind(user, token)
            g.user_session = row
        else:
            row.last_seen_at = now
        db.session.commit()


def switch_workspace(user: User, workspace_id: int) -> bool:
    """Work in `workspace_id` on this session from the next request on; False when the user is
    not a member there. The caller commits."""
    row = current()
    if row is None or user.membership_in(workspace_id) is None:
        return False
    row.workspace_id = workspace_id
    user.session_workspace_id = workspace_id
    return True


def live_sessions(user: User) -> list[UserSession]:
    return list(db.session.scalars(sa.select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)).order_by(UserSession.last_seen_at.desc())))


def end(row: UserSession) -> None:
    """That browser is logged out on its next request; the caller commits."""
    if row.ended_at is None:
        row.ended_at = utcnow()


def end_others(user: User) -> int:
    """Every session of `user` but this one ends (a password change); this one carries on with
    the raised session version. Returns how many ended; the caller commits."""
    mine = current()
    statement = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if mine is not None:
        statement = statement.where(UserSession.id != mine.id)
    ended = db.session.execute(statement.values(ended_at=utcnow()).execution_options(synchronize_session=False))
    user.session_version = (user.session_version or 0) + 1
    if mine is not None:
        token = str(session.get("_user_id", "")).split(".")[-1]
        _bind(user, token)
        if session.get("_remember") != "clear" and request.cookies.get("remember_token"):
            session["_remember"] = "set"  # the remember-me cookie carries the new version too
    return ended.rowcount or 0


def end_in_workspace(user_id: int, workspace_id: int) -> None:
    """A removed member's sessions in that workspace end at once; the caller commits."""
    db.session.execute(sa.update(UserSession).where(
        UserSession.user_id == user_id, UserSession.workspace_id == workspace_id,
        UserSession.ended_at.is_(None)).values(ended_at=utcnow()).execution_options(synchronize_session=False))
