"""Who may create an account, by TOCSIN_SIGNUP: `open` (anyone, via /signup), `invite` (only
with an invite link) or `closed` (nobody). In every mode the first user of an empty instance may
sign up (someone must own it) and operators may use `flask --app wsgi tocsin create-user`."""
import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import User

OPEN, INVITE, CLOSED = "open", "invite", "closed"


def mode() -> str:
    return current_app.config.get("TOCSIN_SIGNUP", INVITE)


def instance_is_empty() -> bool:
    return db.session.scalar(sa.select(sa.exists().where(User.id.is_not(None)))) is False


def open_signup_allowed() -> bool:
    """Whether /signup may create an account (with a workspace of its own) right now."""
    return mode() == OPEN or instance_is_empty()


def invites_allowed() -> bool:
    """Whether invites may be created and accepted: every mode but `closed`."""
    return mode() != CLOSED


SIGNUP_REFUSALS = {
    INVITE: "Sign-up on this Tocsin is by invitation: ask someone in your team for an invite link.",
    CLOSED: "Sign-up on this Tocsin is closed: an operator creates accounts.",
}
CLOSED_INVITES = ("Sign-up on this Tocsin is closed (TOCSIN_SIGNUP=closed), so invites can be neither "
                  "created nor accepted: an operator creates accounts with `flask --app wsgi tocsin create-user`.")


def signup_refusal() -> str:
    return SIGNUP_REFUSALS.get(mode(), SIGNUP_REFUSALS[CLOSED])
