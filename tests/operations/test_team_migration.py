"""Migration 0020 (teams): an existing `member` becomes an `admin` (they could do everything but
manage members, which did not exist), owners stay owners, and pending invites grant `viewer`."""
import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from tests.operations.test_migrations import bare_app, logging_untouched  # noqa: F401  (fixtures)
from webapp.extensions import db

pytestmark = pytest.mark.postgres_too


def test_members_become_admins_and_downgrading_gives_the_old_roles_back(bare_app):  # noqa: F811
    upgrade(revision="0019")
    for statement in (
        "INSERT INTO workspace (id, name, created_at) VALUES (1, 'w', '2026-11-01 00:00:00')",
        "INSERT INTO \"user\" (id, email, password_hash, created_at) VALUES "
        "(1, 'a@example.com', 'x', '2026-11-01 00:00:00'), (2, 'b@example.com', 'x', '2026-11-01 00:00:00')",
        "INSERT INTO membership (id, user_id, workspace_id, role, created_at) VALUES "
        "(1, 1, 1, 'owner', '2026-11-01 00:00:00'), (2, 2, 1, 'member', '2026-11-01 00:00:00')",
        "INSERT INTO invite (id, workspace_id, email, token_hash, created_at, expires_at) VALUES "
        "(1, 1, 'c@example.com', 'h', '2026-11-01 00:00:00', '2026-11-08 00:00:00')",
    ):
        db.session.execute(sa.text(statement))
    db.session.commit()

    upgrade()

    roles = db.session.execute(sa.text("SELECT id, role FROM membership ORDER BY id")).all()
    assert [tuple(row) for row in roles] == [(1, "owner"), (2, "admin")]
    assert db.session.scalar(sa.text("SELECT role FROM invite")) == "viewer"
    db.session.commit()

    downgrade(revision="0019")

    roles = db.session.execute(sa.text("SELECT id, role FROM membership ORDER BY id")).all()
    assert [tuple(row) for row in roles] == [(1, "owner"), (2, "member")]
