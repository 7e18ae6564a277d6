"""Invites: Settings → Invites makes a single-use link for one email with a role (shown once,
stored hashed, 7 days, revocable); the link signs that address up (or, when it has an account,
logs it in) as a member of the inviter's workspace with that role."""
import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, ApiClient, AuthActions, create_api_key_via_page, session_cookie_text
from webapp.models import AuditEvent, Invite, Membership, User
from webapp.services import accounts, throttle
from webapp.timeutil import utcnow

INVITEE = "member@example.com"
NO_LONGER_VALID = "This invite link is no longer valid"


def shown_invite_link(html: str) -> str:
    shown = re.search(r'id="new-invite-link">(http://tocsin\.test/invites/[A-Za-z0-9_-]{40,})<', html)
    assert shown is not None, f"the invite link was not shown:\n{html[:3000]}"
    return shown.group(1)


def invite_via_page(client, email=INVITEE) -> str:
    """The path of a new invite link (`/invites/<token>`), made on the invites page."""
    response = client.post("/settings/invites", data={"email": email}, follow_redirects=True)
    return shown_invite_link(response.get_data(as_text=True)).removeprefix("http://tocsin.test")


def accept(browser, path, password=PASSWORD, confirm=None):
    return browser.post(path, data={"password": password, "confirm": confirm or password})


@pytest.fixture
def owner(auth, client):
    """The inviter, logged in on `client`, in a Tocsin whose sign-up is by invitation."""
    auth.signup()
    client.application.config["TOCSIN_SIGNUP"] = "invite"
    return client


@pytest.fixture
def newcomer(app):
    """The invited person's own browser."""
    return app.test_client()


def test_the_link_is_shown_once_on_a_no_store_page_and_only_its_hash_is_stored(app, owner, db):
    created = owner.post("/settings/invites", data={"email": " Member@Example.com "})
    assert created.status_code == 302
    cookie = session_cookie_text(app, owner)

    page = owner.get("/settings/invites")
    html = page.get_data(as_text=True)
    link = shown_invite_link(html)
    token = link.rsplit("/", 1)[1]

    assert page.headers["Cache-Control"] == "no-store"
    assert "Copy the link now" in html and "pending" in html
    assert token not in cookie
    again = owner.get("/settings/invites")
    assert token not in again.get_data(as_text=True) and "no-store" not in again.headers.get("Cache-Control", "")
    row = db.session.execute(sa.text("SELECT * FROM invite")).mappings().one()
    assert row["email"] == INVITEE
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in row.values())
    assert row["expires_at"] is not None
    invite = db.session.scalars(sa.select(Invite)).one()
    assert timedelta(days=7) - timedelta(minutes=1) < invite.expires_at - invite.created_at <= timedelta(days=7)


@pytest.mark.postgres_too
def test_accepting_in_the_pages_makes_a_member_who_sees_the_inviters_jobs(app, owner, newcomer, db):
    api = ApiClient(owner, create_api_key_via_page(owner))
    assert api.post("/jobs", json={"slug": "billing-nightly"}).status_code == 201
    path = invite_via_page(owner)

    form = newcomer.get(path)
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    assert form.headers["Referrer-Policy"] == "no-referrer"  # the token never leaves in a Referer
    assert f'value="{INVITEE}" readonly' in html and "owner@example.com invited you" in html
    assert 'name="email"' not in html  # nothing to type an address into

    joined = accept(newcomer, path)

    assert joined.status_code == 302 and joined.headers["Location"] == "/overview"
    member = accounts.find_user(INVITEE)
    owner_user = accounts.find_user("owner@example.com")
    assert [(m.workspace_id, m.role) for m in member.memberships] == [(owner_user.workspace_id, "viewer")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
    jobs = newcomer.get("/jobs").get_data(as_text=True)
    assert 'data-job="billing-nightly"' in jobs
    invites_page = owner.get("/settings/invites").get_data(as_text=True)
    assert "accepted" in invites_page


def test_the_member_logs_in_later_with_the_chosen_password(owner, newcomer):
    path = invite_via_page(owner)
    accept(newcomer, path)
    newcomer.post("/logout")

    assert AuthActions(newcomer).login(INVITEE).headers["Location"] == "/overview"


@pytest.mark.postgres_too
def test_an_invite_works_once(owner, newcomer, app, db):
    path = invite_via_page(owner)
    assert accept(newcomer, path).status_code == 302
    newcomer.post("/logout")
    someone_else = app.test_client()

    for response in (someone_else.get(path), accept(someone_else, path, "another password 1")):
        assert response.status_code == 404
        assert NO_LONGER_VALID in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_an_expired_invite_is_no_longer_valid(owner, newcomer, db):
    path = invite_via_page(owner)
    db.session.execute(sa.update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    for response in (newcomer.get(path), accept(newcomer, path)):
        assert response.status_code == 404
        assert NO_LONGER_VALID in response.get_data(as_text=True)
    assert accounts.find_user(INVITEE) is None
    assert "expired" in owner.get("/settings/invites").get_data(as_text=True)


def test_a_revoked_invite_is_no_longer_valid(owner, newcomer, db):
    path = invite_via_page(owner)
    invite = db.session.scalars(sa.select(Invite)).one()

    revoked = owner.post(f"/settings/invites/{invite.id}/revoke", follow_redirects=True)

    assert "revoked: its link no longer works" in revoked.get_data(as_text=True)
    for response in (newcomer.get(path), accept(newcomer, path)):
        assert response.status_code == 404
        assert NO_LONGER_VALID in response.get_data(as_text=True)
    assert accounts.find_user(INVITEE) is None


@pytest.mark.parametrize("token", ["not-a-token", "x" * 500, "%00", "é"])
def test_a_wrong_token_is_a_clear_page_never_an_error(owner, newcomer, token):
    invite_via_page(owner)

    for response in (newcomer.get(f"/invites/{token}"), accept(newcomer, f"/invites/{token}")):
        assert response.status_code == 404
        assert NO_LONGER_VALID in response.get_data(as_text=True)


def test_passwords_follow_the_sign_up_rules_and_the_invite_stays_usable(owner, newcomer):
    path = invite_via_page(owner)

    short = accept(newcomer, path, "short")
    differ = accept(newcomer, path, PASSWORD, "a different password")

    assert "at least 10 characters" in short.get_data(as_text=True)
    assert "The passwords differ." in differ.get_data(as_text=True)
    assert accounts.find_user(INVITEE) is None
    assert accept(newcomer, path).status_code == 302


def test_a_member_of_this_workspace_cannot_be_invited_again(owner, db):
    refused = owner.post("/settings/invites", data={"email": "Owner@example.com"})
    assert "owner@example.com is already a member of this workspace." in refused.get_data(as_text=True)
    assert db.session.scalars(sa.select(Invite)).all() == []


def test_an_address_with_an_account_accepts_by_logging_in_and_keeps_its_own_workspace(app, owner, newcomer, db):
    path = invite_via_page(owner)  # the address signs up elsewhere before the link is used
    app.test_cli_runner().invoke(args=["tocsin", "create-user", INVITEE, "--password-stdin"], input=PASSWORD + "\n")

    page = newcomer.get(path).get_data(as_text=True)
    assert "already has an account: enter its password" in page and 'name="confirm"' not in page
    wrong = newcomer.post(path, data={"password": "not the password"})
    assert wrong.status_code == 400 and "Wrong password for this address." in wrong.get_data(as_text=True)
    joined = newcomer.post(path, data={"password": PASSWORD})

    assert joined.status_code == 302 and joined.headers["Location"] == "/overview"
    member = accounts.find_user(INVITEE)
    owner_user = accounts.find_user("owner@example.com")
    assert [m.role for m in member.memberships] == ["owner", "viewer"]  # their own, and the inviter's
    assert member.memberships[1].workspace_id == owner_user.workspace_id
    assert "Members of owner&#39;s workspace" in newcomer.get("/settings/members").get_data(as_text=True)


def test_invites_are_accepted_in_open_mode_too(owner, newcomer):
    path = invite_via_page(owner)
    owner.application.config["TOCSIN_SIGNUP"] = "open"

    assert accept(newcomer, path).status_code == 302


def test_closed_mode_refuses_to_create_or_accept_invites(owner, newcomer, db):
    path = invite_via_page(owner)
    owner.application.config["TOCSIN_SIGNUP"] = "closed"

    page = owner.get("/settings/invites").get_data(as_text=True)
    assert "Sign-up on this Tocsin is closed" in page and "Create invite link" not in page
    refused = owner.post("/settings/invites", data={"email": "late@example.com"})
    assert refused.status_code == 403
    assert "Sign-up on this Tocsin is closed" in refused.get_data(as_text=True)
    assert db.session.scalars(sa.select(Invite.email)).all() == [INVITEE]

    for response in (newcomer.get(path), accept(newcomer, path)):
        assert response.status_code == 403
        assert "Sign-up on this Tocsin is closed" in response.get_data(as_text=True)
    assert accounts.find_user(INVITEE) is None


def test_accepting_counts_against_the_sign_up_throttle(owner, newcomer, db):
    path = invite_via_page(owner)
    key = throttle.address_key(throttle.SIGNUP_ADDRESS, "127.0.0.1")
    for _ in range(throttle.SIGNUP_ADDRESS.attempts):
        throttle.record([key])

    response = accept(newcomer, path)

    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    assert accounts.find_user(INVITEE) is None


def test_create_revoke_and_accept_are_audited_without_the_token(owner, newcomer, app, db):
    first = invite_via_page(owner)
    second = invite_via_page(owner, "other@example.com")
    second_invite = db.session.scalars(sa.select(Invite).where(Invite.email == "other@example.com")).one()
    owner.post(f"/settings/invites/{second_invite.id}/revoke")
    accept(newcomer, first)

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "invite")
                                .order_by(AuditEvent.id)).all()
    owner_user = accounts.find_user("owner@example.com")
    member = accounts.find_user(INVITEE)
    assert [(event.action, event.user_id) for event in events] == [
        ("invite.create", owner_user.id), ("invite.create", owner_user.id),
        ("invite.revoke", owner_user.id), ("invite.accept", member.id)]
    assert {event.workspace_id for event in events} == {owner_user.workspace_id}
    assert "invited member@example.com" in events[0].summary
    assert events[3].summary == "member@example.com joined as viewer with the invite from owner@example.com"
    tokens = [path.rsplit("/", 1)[1] for path in (first, second)]
    stored = db.session.execute(sa.text("SELECT * FROM audit_event")).mappings().all()
    assert not [row for row in stored for token in tokens if token in repr(dict(row))]
    log = owner.get("/settings/audit-log").get_data(as_text=True)
    assert "joined as viewer with the invite from owner@example.com" in log


def test_an_invite_of_one_workspace_never_shows_or_yields_to_another(app, owner, db):
    invite_via_page(owner)
    invite = db.session.scalars(sa.select(Invite)).one()
    other = app.test_client()
    app.config["TOCSIN_SIGNUP"] = "open"
    AuthActions(other).signup("intruder@example.com")
    app.config["TOCSIN_SIGNUP"] = "invite"

    page = other.get("/settings/invites").get_data(as_text=True)
    assert INVITEE not in page and "No invites yet." in page
    assert other.post(f"/settings/invites/{invite.id}/revoke").status_code == 404
    db.session.refresh(invite)
    assert invite.revoked_at is None
    assert db.session.scalars(sa.select(Membership.role)).all() == ["owner", "owner"]
