"""Provisioning from the shell: `flask --app wsgi tocsin create-user / create-api-key`, for
operators and automation that set Tocsin up without a browser. Both are audited and refuse
bad input with one clear line and a non-zero exit."""
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from webapp.models import ApiKey, AuditEvent, Membership, User, Workspace


def create_user(runner, email="ops@example.com", password=PASSWORD):
    return runner.invoke(args=["tocsin", "create-user", email, "--password-stdin"], input=password + "\n")


def create_api_key(runner, email="ops@example.com", name="deploy pipeline"):
    return runner.invoke(args=["tocsin", "create-api-key", email, "--name", name])


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_user_with_password_stdin_creates_user_workspace_owner_and_audit_event(runner, db):
    result = create_user(runner, " Ops@Example.com ")

    assert result.exit_code == 0, result.output
    user = db.session.scalars(sa.select(User)).one()
    assert user.email == "ops@example.com"
    assert f"Created ops@example.com with workspace {user.workspace_id}." in result.output
    membership = db.session.scalars(sa.select(Membership)).one()
    assert (membership.user_id, membership.role) == (user.id, "owner")
    assert db.session.get(Workspace, membership.workspace_id).name == "ops's workspace"
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.object_type, event.object_id) == ("user.create", "user", str(user.id))
    assert (event.workspace_id, event.user_id) == (membership.workspace_id, user.id)
    assert "from the shell" in event.summary


def test_user_created_in_the_shell_can_log_in(runner, auth, client):
    create_user(runner)

    assert auth.login("ops@example.com").headers["Location"] == "/overview"
    assert client.get("/overview").status_code == 200


def test_create_user_asks_for_the_password_twice_without_password_stdin(runner, db):
    result = runner.invoke(args=["tocsin", "create-user", "ops@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password" in result.output and PASSWORD not in result.output
    assert count(db, User) == 1


def test_create_user_with_a_taken_email_fails_clearly_and_creates_nothing(runner, db):
    create_user(runner)

    result = create_user(runner, "OPS@example.com")

    assert result.exit_code != 0
    assert "Error: An account with this email already exists." in result.output
    assert (count(db, User), count(db, Workspace), count(db, AuditEvent)) == (1, 1, 1)


def test_create_user_refuses_a_short_password(runner, db):
    result = create_user(runner, password="123456789")

    assert result.exit_code != 0
    assert "Error: The password must be at least 10 characters." in result.output
    assert (count(db, User), count(db, Workspace), count(db, AuditEvent)) == (0, 0, 0)


def test_create_user_refuses_an_invalid_email(runner, db):
    result = create_user(runner, "not-an-address")

    assert result.exit_code != 0
    assert "is not a valid email address" in result.output
    assert count(db, User) == 0


def test_create_api_key_prints_a_key_that_opens_the_api_for_that_workspace(runner, client, db):
    create_user(runner)

    result = create_api_key(runner)

    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert key.startswith("tk_") and "\n" not in key
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json["workspace"]["name"] == "ops's workspace"


def test_create_api_key_is_audited_and_stores_only_a_hash(runner, db):
    create_user(runner)

    key = create_api_key(runner, name="deploy pipeline").output.strip()

    user = db.session.scalars(sa.select(User)).one()
    api_key = db.session.scalars(sa.select(ApiKey)).one()
    assert (api_key.name, api_key.created_by_id, api_key.workspace_id) == ("deploy pipeline", user.id, user.workspace_id)
    assert api_key.key_hash != key and key.startswith(api_key.prefix)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "api_key.create")).one()
    assert (event.user_id, event.object_id) == (user.id, str(api_key.id))
    assert "deploy pipeline" in event.summary and key not in event.summary


def test_create_api_key_for_an_unknown_email_fails_clearly(runner, db):
    result = create_api_key(runner, "Nobody@Example.com")

    assert result.exit_code != 0
    assert "Error: No user with email nobody@example.com." in result.output
    assert count(db, ApiKey) == 0


def test_create_api_key_refuses_a_blank_name_and_names_one_when_none_is_given(runner, db):
    create_user(runner)

    blank = create_api_key(runner, name="   ")
    assert blank.exit_code != 0 and "--name must be 1 to 100 characters." in blank.output
    assert count(db, ApiKey) == 0

    unnamed = runner.invoke(args=["tocsin", "create-api-key", "ops@example.com"])  # as issue 20 writes it
    assert unnamed.exit_code == 0, unnamed.output
    assert db.session.scalars(sa.select(ApiKey.name)).one() == "full key from the shell"
