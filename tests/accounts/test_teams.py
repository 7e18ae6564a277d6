"""Teams: members page (change role, remove, leave; at least one owner always remains), removed
members lose their sessions at once, several workspaces per user switched per session and never
mixed, the account page's password change and sessions, and an audit entry naming the actor for
every membership change."""
import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, AuthActions
from tests.support.factories import job_of
from tests.support.teams import invite_link, join, logged_in
from webapp.models import AuditEvent, Membership, User, Workspace
from webapp.models.accounts import UserSession

MEMBER = "member@example.com"
NEW_PASSWORD = "a much longer new password"


@pytest.fixture
def owner(auth, client):
    auth.signup()
    return client


def membership_of(db, email: str, workspace_id: int | None = None) -> Membership:
    statement = sa.select(Membership).join(User).where(User.email == email)
    if workspace_id is not None:
        statement = statement.where(Membership.workspace_id == workspace_id)
    db.session.expire_all()
    return db.session.scalars(statement.order_by(Membership.id)).first()


def test_the_last_owner_cannot_be_demoted_removed_or_leave(app, owner, db):
    join(app, owner, MEMBER, "admin")
    mine = membership_of(db, "owner@example.com")

    demoted = owner.post(f"/settings/members/{mine.id}/role", data={"role": "admin"}, follow_redirects=True)
    left = owner.post("/settings/members/leave", follow_redirects=True)
    removed_self = owner.post(f"/settings/members/{mine.id}/remove", follow_redirects=True)

    for response in (demoted, left, removed_self):
        assert response.status_code == 200
        assert "is the last owner of this workspace" in response.get_data(as_text=True)
    assert membership_of(db, "owner@example.com").role == "owner"


def test_a_second_owner_lets_the_first_step_down(app, owner, db):
    join(app, owner, MEMBER, "admin")
    owner.post(f"/settings/members/{membership_of(db, MEMBER).id}/role", data={"role": "owner"})
    owner.post(f"/settings/members/{membership_of(db, 'owner@example.com').id}/role", data={"role": "viewer"})
    assert (membership_of(db, MEMBER).role, membership_of(db, "owner@example.com").role) == ("owner", "viewer")


def test_an_unknown_role_is_a_message_not_a_500(app, owner, db):
    join(app, owner, MEMBER)
    response = owner.post(f"/settings/members/{membership_of(db, MEMBER).id}/role", data={"role": "god"},
                          follow_redirects=True)
    assert response.status_code == 200 and "Choose one of the roles" in response.get_data(as_text=True)
    assert owner.post("/settings/members/99999/role", data={"role": "admin"}).status_code == 404
    assert owner.post("/settings/members/abc/remove").status_code == 404


def test_a_removed_member_is_logged_out_on_their_next_request(app, owner, db):
    member = join(app, owner, MEMBER, "admin")
    assert member.get("/overview").status_code == 200

    removed = owner.post(f"/settings/members/{membership_of(db, MEMBER).id}/remove")

    assert removed.status_code == 302
    response = member.get("/overview")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    refused = member.post("/login", data={"email": MEMBER, "password": PASSWORD})
    assert "no longer a member of any workspace" in refused.get_data(as_text=True)


def test_a_removed_member_keeps_their_sessions_in_their_other_workspace(app, owner, db):
    AuthActions(other := app.test_client()).signup(MEMBER)
    path = invite_link(owner, MEMBER, "viewer")
    assert other.post(path).status_code == 302  # logged in already: one click joins
    in_own_workspace = logged_in(app, MEMBER)  # a second browser, in the member's own workspace
    owner_workspace = db.session.scalar(sa.select(Workspace.id).order_by(Workspace.id))

    owner.post(f"/settings/members/{membership_of(db, MEMBER, owner_workspace).id}/remove")

    assert other.get("/overview").status_code == 302  # that browser worked in the owner's workspace
    assert in_own_workspace.get("/overview").status_code == 200


def test_switching_workspaces_never_shows_another_workspaces_rows(app, owner, db):
    AuthActions(member := app.test_client()).signup(MEMBER)
    member_workspace, owner_workspace = (
        db.session.scalar(sa.select(Membership.workspace_id).join(User).where(User.email == email))
        for email in (MEMBER, "owner@example.com"))
    job_of(owner_workspace, "owners-nightly")
    job_of(member_workspace, "members-backup")
    db.session.commit()
    assert member.post(invite_link(owner, MEMBER, "viewer")).status_code == 302

    shown = member.get("/jobs").get_data(as_text=True)  # joining moves this browser to the new workspace
    assert 'data-job="owners-nightly"' in shown and 'data-job="members-backup"' not in shown
    assert 'id="workspace-switch"' in shown

    switched = member.post("/workspaces/switch", data={"workspace_id": member_workspace})
    assert switched.status_code == 303
    shown = member.get("/jobs").get_data(as_text=True)
    assert 'data-job="members-backup"' in shown and 'data-job="owners-nightly"' not in shown
    assert member.post("/settings/alerts/endpoints/new", data={}).status_code != 403  # owner here again

    assert 'id="workspace-switch"' not in owner.get("/jobs").get_data(as_text=True)  # one workspace only
    stranger = db.session.scalar(sa.select(Workspace.id).where(Workspace.id != owner_workspace,
                                                               Workspace.id != member_workspace))
    assert stranger is None
    refused = owner.post("/workspaces/switch", data={"workspace_id": member_workspace}, follow_redirects=True)
    assert "You are not a member of that workspace." in refused.get_data(as_text=True)
    assert 'data-job="members-backup"' not in owner.get("/jobs").get_data(as_text=True)


def test_the_current_workspace_is_kept_per_session(app, owner, db):
    AuthActions(first := app.test_client()).signup(MEMBER)
    first.post(invite_link(owner, MEMBER, "viewer"))
    second = logged_in(app, MEMBER)  # logs in to the first workspace of the account: its own
    owner_workspace = db.session.scalar(sa.select(Workspace.name).order_by(Workspace.id))
    assert f"Members of {owner_workspace}".replace("'", "&#39;") in first.get("/settings/members").get_data(as_text=True)
    assert "Members of member&#39;s workspace" in second.get("/settings/members").get_data(as_text=True)


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(app, owner, db):
    other_browser = logged_in(app, "owner@example.com")
    assert other_browser.get("/overview").status_code == 200

    wrong = owner.post("/settings/account/password", data={
        "current_password": "not it", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.get_data(as_text=True)
    differ = owner.post("/settings/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": "something else"})
    assert differ.status_code == 400 and "The passwords differ." in differ.get_data(as_text=True)
    changed = owner.post("/settings/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})

    assert changed.status_code == 302
    assert owner.get("/overview").status_code == 200
    assert other_browser.get("/overview").status_code == 302
    assert app.test_client().post("/login", data={"email": "owner@example.com", "password": PASSWORD}).status_code == 200
    logged_in(app, "owner@example.com", NEW_PASSWORD)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.password"))
    assert event.summary == "changed the password; 1 other session(s) ended"


def test_the_account_page_lists_sessions_and_ends_one(app, owner, db):
    other_browser = app.test_client()
    other_browser.post("/login", data={"email": "owner@example.com", "password": PASSWORD},
                       headers={"User-Agent": "Firefox on the laptop"})
    page = owner.get("/settings/account").get_data(as_text=True)
    assert "Firefox on the laptop" in page and "this browser" in page and "127.0.0.1" in page
    laptop = db.session.scalar(sa.select(UserSession).where(UserSession.user_agent == "Firefox on the laptop"))

    assert owner.post(f"/settings/account/sessions/{laptop.id}/end").status_code == 302

    assert other_browser.get("/overview").status_code == 302
    assert owner.get("/overview").status_code == 200
    assert "Firefox on the laptop" not in owner.get("/settings/account").get_data(as_text=True)


def test_a_revoked_session_cannot_come_back_with_its_remember_me_cookie(app, auth, owner, db):
    laptop = app.test_client()
    laptop.post("/login", data={"email": "owner@example.com", "password": PASSWORD, "remember": "y"})
    remember = laptop.get_cookie("remember_token").value
    row = db.session.scalars(sa.select(UserSession).order_by(UserSession.id.desc())).first()
    owner.post(f"/settings/account/sessions/{row.id}/end")

    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert thief.get("/overview").status_code == 302


def test_membership_changes_and_rename_are_audited_with_the_actor(app, owner, db):
    join(app, owner, MEMBER, "viewer")
    member = membership_of(db, MEMBER)
    owner.post(f"/settings/members/{member.id}/role", data={"role": "admin"})
    owner.post("/settings/members/workspace-name", data={"name": "Platform team"})
    owner.post(f"/settings/members/{member.id}/remove")

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(
        ["member.role", "member.remove", "workspace.rename"])).order_by(AuditEvent.id)).all()
    owner_id = db.session.scalar(sa.select(User.id).where(User.email == "owner@example.com"))
    assert [(event.action, event.user_id, event.summary) for event in events] == [
        ("member.role", owner_id, f"owner@example.com changed {MEMBER} from viewer to admin"),
        ("workspace.rename", owner_id, "owner@example.com renamed the workspace from \"owner's workspace\" "
                                       "to 'Platform team'"),
        ("member.remove", owner_id, f"owner@example.com removed {MEMBER} (admin)"),
    ]
    log = owner.get("/settings/audit-log").get_data(as_text=True)
    assert f"owner@example.com removed {MEMBER} (admin)" in log


def test_renaming_needs_a_name(owner, db):
    response = owner.post("/settings/members/workspace-name", data={"name": "  "})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(Workspace.name)) == "owner's workspace"


def test_a_member_who_leaves_carries_on_in_their_other_workspace(app, owner, db):
    AuthActions(member := app.test_client()).signup(MEMBER)
    member.post(invite_link(owner, MEMBER, "admin"))  # this browser now works in the owner's workspace
    owner_workspace = db.session.scalar(sa.select(Workspace.id).order_by(Workspace.id))

    left = member.post("/settings/members/leave", follow_redirects=True)

    assert left.status_code == 200 and "You left owner&#39;s workspace." in left.get_data(as_text=True)
    assert membership_of(db, MEMBER, owner_workspace) is None
    assert "Members of member&#39;s workspace" in member.get("/settings/members").get_data(as_text=True)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "member.leave"))
    assert event.workspace_id == owner_workspace and event.summary == f"{MEMBER} left the workspace (admin)"


def test_a_member_who_leaves_their_only_workspace_is_logged_out(app, owner, db):
    member = join(app, owner, MEMBER, "viewer")  # leaving is allowed to viewers too
    left = member.post("/settings/members/leave")
    assert left.status_code == 302 and left.headers["Location"].startswith("/login")
    assert member.get("/overview").status_code == 302
