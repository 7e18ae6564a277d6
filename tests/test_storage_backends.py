"""The storage layer behaves the same on SQLite and PostgreSQL (marked postgres_too)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.models import Workspace
from webapp.timeutil import utcnow

pytestmark = pytest.mark.postgres_too


def test_datetimes_come_back_utc_aware(db):
    created = utcnow() - timedelta(hours=3)
    db.session.add(Workspace(name="tz", created_at=created))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalar(sa.select(Workspace.created_at))
    assert stored.tzinfo is not None
    assert abs((stored - created).total_seconds()) < 1


def test_signup_and_api_key_work_on_this_backend(api):
    assert api.get("/me").status_code == 200
