"""Users, workspaces and API keys, shared by the sign-up page and the shell commands."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.database import autocommit_connection, serialised_writes
from webapp.extensions import db
from webapp.models import ApiKey, Membership, User, Workspace
from webapp.models.accounts import API_KEY_SCOPES
from webapp.services import api_cache, audit
from webapp.timeutil import utcnow

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
PASSWORD_RULE = f"At least {MIN_PASSWORD_LENGTH} characters (at most {MAX_PASSWORD_LENGTH})."  # shown by every new-password field
API_KEY_PREFIX = "tk_"


class AccountError(ValueError):
    """A user-facing reason an account operation was refused."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(email: str, password: str, *, client_ip: str | None = None, from_shell: bool = False) -> User:
    """Create a user with a workspace they own; the caller commits.

    The sign-up form checks the same rules first; the shell command relies on these checks.
    """
    user = new_user(email, password)
    email = user.email
    workspace = Workspace(name=f"{email.split('@')[0]}'s workspace")
    db.session.add(workspace)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, workspace_id=workspace.id, role="owner"))
    if from_shell:
        action, summary = "user.create", f"created {email} from the shell"
    else:
        action, summary = "user.signup", f"signed up as {email}"
    audit.record(workspace_id=workspace.id, user_id=user.id, action=action,
                 object_type="user", object_id=user.id, summary=summary, client_ip=client_ip)
    db.session.flush()
    db.session.refresh(user)
    return user


def valid_email(email: str) -> str:
    """The normalised address, or AccountError saying why it is not one."""
    email = normalise_email(email)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(f"{email} is not a valid email address: {error}") from None
    return email


def new_user(email: str, password: str) -> User:
    """A user without any membership yet, after the account rules (sign-up and invites share
    them); added and flushed, the caller adds the membership and commits."""
    email = valid_email(email)
    if find_user(email) is not None:
        raise AccountError("An account with this email already exists.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")
    user = User(email=email, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    return user


_unknown_user_hash: str | None = None


def _hash_to_compare(user: User | None) -> str:
    """The user's hash, or for an unknown email one made the same way, so that both answers
    cost one password check and take the same time (no enumeration of accounts by timing)."""
    global _unknown_user_hash
    if user is not None:
        return user.password_hash
    if _unknown_user_hash is None:
        _unknown_user_hash = generate_password_hash(secrets.token_urlsafe(16))
    return _unknown_user_hash


def authenticate(email: str, password: str) -> User | None:
    user = find_user(email)
    if not check_password_hash(_hash_to_compare(user), password) or user is None:
        return None
    user.last_login_at = utcnow()
    return user


def end_sessions(user: User) -> None:
    """Every session and remember-me cookie of this user stops working (log-out): they carry
    the old session version (services/user_sessions.py). The caller commits."""
    user.session_version = (user.session_version or 0) + 1


def change_password(user: User, current: str, new: str) -> None:
    """Check the current password and set a new one by the sign-up rules (AccountError says
    why not); the caller ends the other sessions and commits."""
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError("The current password is wrong.")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(new) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")
    user.password_hash = generate_password_hash(new)


def hash_api_key(key: str) -> str:
    """API keys are high-entropy random strings, so one SHA-256 is enough to store them."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(*, workspace_id: int, user_id: int | None, name: str, scope: str = "full",
                   client_ip: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the full key, which is never stored or shown again.
    `scope` defaults to `full`, what every key could do before scopes; the page proposes `ingest`."""
    if scope not in API_KEY_SCOPES:
        raise AccountError(f"Unknown API key scope {scope!r}: one of {', '.join(API_KEY_SCOPES)}.")
    full_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(workspace_id=workspace_id, name=name.strip(), prefix=full_key[:10],
                     key_hash=hash_api_key(full_key), created_by_id=user_id, scope=scope)
    db.session.add(api_key)
    db.session.flush()
    audit.record(workspace_id=workspace_id, user_id=user_id, action="api_key.create",
                 object_type="api_key", object_id=api_key.id,
                 summary=f"created API key {api_key.name!r} ({api_key.prefix}…) with scope {scope}",
                 client_ip=client_ip)
    return api_key, full_key


def revoke_api_key(api_key: ApiKey, *, user_id: int | None, client_ip: str | None = None) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        audit.record(workspace_id=api_key.workspace_id, user_id=user_id, action="api_key.revoke",
                     object_type="api_key", object_id=api_key.id,
                     summary=f"revoked API key {api_key.name!r} ({api_key.prefix}…)", client_ip=client_ip)


class ApiKeyIdentity(NamedTuple):
    """What a request authenticated by an API key needs: no ORM object, no joined loads."""

    id: int
    workspace_id: int
    created_by_id: int | None
    scope: str  # API_KEY_SCOPES


LAST_USED_RESOLUTION = timedelta(seconds=60)
# Built once: every API request runs it, and building a statement costs more than running it.
_LIVE_KEY_BY_HASH = (sa.select(ApiKey.id, ApiKey.workspace_id, ApiKey.created_by_id, ApiKey.scope,
                               ApiKey.last_used_at)
                     .where(ApiKey.key_hash == sa.bindparam("key_hash"), ApiKey.revoked_at.is_(None)))


def api_key_from_token(token: str) -> ApiKeyIdentity | None:
    """The live key for a bearer token, read with one light query on the autocommit connection
    (no transaction for a read), or from the API cache on PostgreSQL (`api_cache`: a revoked
    key leaves it within milliseconds). Marks it used at most once a minute per process: the
    UPDATE (conditional, so concurrent requests write it once) and its commit happen only when
    the time last seen is older than that."""
    key_hash = hash_api_key(token)
    live = api_cache.cached(("api_key", key_hash), lambda: _live_key(key_hash))
    if live is None:
        return None
    now = utcnow()
    if live.last_used_at is None or now - live.last_used_at > LAST_USED_RESOLUTION:
        with serialised_writes():
            db.session.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == live.identity.id, sa.or_(ApiKey.last_used_at.is_(None),
                                                              ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
                .values(last_used_at=now))
            db.session.commit()
        live.last_used_at = now
    return live.identity


@dataclass(slots=True)
class _LiveKey:
    identity: ApiKeyIdentity
    last_used_at: datetime | None


def _live_key(key_hash: str) -> _LiveKey | None:
    # A Core row needs none of the ORM's per-statement work.
    row = autocommit_connection().execute(_LIVE_KEY_BY_HASH, {"key_hash": key_hash}).one_or_none()
    if row is None:
        return None
    return _LiveKey(ApiKeyIdentity(row.id, row.workspace_id, row.created_by_id, row.scope), row.last_used_at)
