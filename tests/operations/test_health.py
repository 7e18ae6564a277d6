"""GET /healthz: what a load balancer or uptime check asks — does the database answer, and is
a scheduler alive? It needs no log-in and always answers JSON."""
import shutil
from datetime import timedelta

import pytest

from tests.support.app import make_app
from webapp import create_app
from webapp.extensions import db as _db
from webapp.models import SchedulerHeartbeat
from webapp.timeutil import utcnow


def test_healthz_answers_200_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.is_json
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"


def test_healthz_needs_no_login_and_sets_no_session(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert client.get_cookie("session") is None


def test_healthz_reports_no_scheduler_age_when_none_ever_ran(client):
    assert client.get("/healthz").json["scheduler_age_seconds"] is None


def test_healthz_reports_the_age_of_the_latest_scheduler_heartbeat(client, db):
    now = utcnow()
    db.session.add_all([
        SchedulerHeartbeat(host="old-host", pid=1, started_at=now - timedelta(hours=3),
                           last_beat_at=now - timedelta(hours=2)),
        SchedulerHeartbeat(host="web-1", pid=2, started_at=now - timedelta(hours=1),
                           last_beat_at=now - timedelta(minutes=5)),
    ])
    db.session.commit()

    age = client.get("/healthz").json["scheduler_age_seconds"]

    assert 300 <= age < 3600  # the newest beat counts, five minutes ago


@pytest.fixture
def app_on_removable_disk(tmp_path):
    """An app whose SQLite file lives in a directory the test can take away."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = make_app(tmp_path, f"sqlite:///{data_dir / 'tocsin.db'}")
    with app.app_context():
        yield app, data_dir
        _db.session.remove()
        _db.engine.dispose()


def test_healthz_answers_503_json_when_the_database_does_not_answer(app_on_removable_disk):
    app, data_dir = app_on_removable_disk
    client = app.test_client()
    assert client.get("/healthz").status_code == 200

    _db.session.remove()
    _db.engine.dispose()
    shutil.rmtree(data_dir)  # SQLite cannot open (or create) the file any more

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.is_json
    assert response.json["status"] != "ok"
    assert response.json["database"] == "unreachable"


def test_healthz_answers_503_when_the_database_was_never_reachable(tmp_path):
    app = create_app({"TESTING": True, "TOCSIN_ENV": "testing", "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing-dir' / 'tocsin.db'}"})

    with app.app_context():
        response = app.test_client().get("/healthz")
        _db.engine.dispose()

    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
