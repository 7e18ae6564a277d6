"""A catalogue of malformed run reports: each gets a 4xx JSON error and writes no row."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.accounts import ApiClient
from tests.support.app import make_app
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Job, Run
from webapp.services import accounts
from webapp.timeutil import utcnow

JSON = "application/json"
PAST = (utcnow() - timedelta(minutes=1)).isoformat()
FAR_FUTURE = (utcnow() + timedelta(days=8)).isoformat()
SOON = (utcnow() + timedelta(hours=1)).isoformat()


def body(**fields):
    return json.dumps({"job": "nightly-report", **fields})


def case(case_id, raw, content_type, status, field, marks=()):
    """One malformed request: raw body, content type, expected status, field named in the error (or None)."""
    return pytest.param(raw, content_type, status, field, id=case_id, marks=marks)


REPORT_CASES = [
    case("not-json", "this is not json", JSON, 400, None),
    case("empty-body", "", JSON, 400, None),
    case("whitespace-body", "   \n ", JSON, 400, None),
    case("truncated-json", '{"job": "nightly-report"', JSON, 400, None),
    case("trailing-garbage", '{"job": "nightly-report"} x', JSON, 400, None),
    case("invalid-utf8", b'{"job": "\xff\xfe"}', JSON, 400, None),
    case("text-plain", body(), "text/plain", 415, None),
    case("form-encoded", "job=nightly-report", "application/x-www-form-urlencoded", 415, None),
    case("huge-body", body(message="x" * 70_000), JSON, 413, None),
    case("json-array", '[{"job": "nightly-report"}]', JSON, 400, None),
    case("json-string", '"nightly-report"', JSON, 400, None),
    case("json-null", "null", JSON, 400, None),
    case("missing-job", json.dumps({"status": "failed"}), JSON, 400, "job"),
    case("job-null", json.dumps({"job": None}), JSON, 400, "job"),
    case("job-number", json.dumps({"job": 42}), JSON, 400, "job"),
    case("job-empty", json.dumps({"job": ""}), JSON, 400, "job"),
    case("job-with-space", json.dumps({"job": "nightly report"}), JSON, 400, "job"),
    case("job-with-slash", json.dumps({"job": "team/nightly"}), JSON, 400, "job"),
    case("job-non-ascii", json.dumps({"job": "nächtlich"}), JSON, 400, "job"),
    case("job-leading-dash", json.dumps({"job": "-nightly"}), JSON, 400, "job"),
    case("job-too-long", json.dumps({"job": "j" * 101}), JSON, 400, "job"),
    case("unknown-field", body(owner="ops"), JSON, 400, "owner"),
    case("status-unknown", body(status="crashed"), JSON, 400, "status"),
    case("status-number", body(status=1), JSON, 400, "status"),
    case("status-capitalised", body(status="Failed"), JSON, 400, "status"),
    case("deadline-seconds-bool", body(deadline_seconds=True), JSON, 400, "deadline_seconds"),
    case("deadline-seconds-string", body(deadline_seconds="60"), JSON, 400, "deadline_seconds"),
    case("deadline-seconds-float", body(deadline_seconds=1.5), JSON, 400, "deadline_seconds"),
    case("deadline-seconds-zero", body(deadline_seconds=0), JSON, 400, "deadline_seconds"),
    case("deadline-seconds-negative", body(deadline_seconds=-5), JSON, 400, "deadline_seconds"),
    case("deadline-seconds-over-a-week", body(deadline_seconds=7 * 86400 + 1), JSON, 400, "deadline_seconds"),
    case("deadline-at-in-the-past", body(deadline_at=PAST), JSON, 400, "deadline_at"),
    case("deadline-at-over-a-week", body(deadline_at=FAR_FUTURE), JSON, 400, "deadline_at"),
    case("deadline-at-not-a-time", body(deadline_at="tomorrow"), JSON, 400, "deadline_at"),
    case("deadline-at-without-zone", body(deadline_at="2099-01-01T00:00:00"), JSON, 400, "deadline_at"),
    case("deadline-at-number", body(deadline_at=1893456000), JSON, 400, "deadline_at"),
    case("both-deadlines", body(deadline_seconds=60, deadline_at=SOON), JSON, 400, "deadline_at"),
    case("duration-negative", body(status="failed", duration_ms=-1), JSON, 400, "duration_ms"),
    case("duration-bool", body(status="failed", duration_ms=False), JSON, 400, "duration_ms"),
    case("duration-string", body(status="failed", duration_ms="42000"), JSON, 400, "duration_ms"),
    case("duration-absurd", body(status="failed", duration_ms=10**20), JSON, 400, "duration_ms"),
    case("duration-on-running-run", body(duration_ms=1000), JSON, 400, "duration_ms"),
    case("message-too-long", body(message="m" * 2001), JSON, 400, "message"),
    case("message-object", body(message={"text": "boom"}), JSON, 400, "message"),
    case("metadata-list", body(metadata=[1, 2]), JSON, 400, "metadata"),
    case("metadata-string", body(metadata="host=web-1"), JSON, 400, "metadata"),
    case("metadata-over-8kb", body(metadata={"log": "l" * 8200}), JSON, 400, "metadata"),
    case("metadata-nan", '{"job": "nightly-report", "metadata": {"ratio": NaN}}', JSON, 400, "metadata"),
    case("external-id-too-long", body(external_id="e" * 201), JSON, 400, "external_id"),
    case("external-id-number", body(external_id=7), JSON, 400, "external_id"),
    case("external-id-empty", body(external_id=""), JSON, 400, "external_id"),
    case("deeply-nested", '{"job": "nightly-report", "metadata": ' + "[" * 60_000, JSON, 400, None),
]

FINISH_CASES = [
    case("empty-body", "", JSON, 400, None),
    case("not-json", "done", JSON, 400, None),
    case("text-plain", json.dumps({"status": "failed"}), "text/plain", 415, None),
    case("missing-status", json.dumps({"message": "done"}), JSON, 400, "status"),
    case("status-running", json.dumps({"status": "running"}), JSON, 400, "status"),
    case("status-unknown", json.dumps({"status": "ok"}), JSON, 400, "status"),
    case("duration-negative", json.dumps({"status": "failed", "duration_ms": -10}), JSON, 400, "duration_ms"),
    case("duration-bool", json.dumps({"status": "failed", "duration_ms": True}), JSON, 400, "duration_ms"),
    case("message-too-long", json.dumps({"status": "failed", "message": "m" * 2001}), JSON, 400, "message"),
    case("unknown-field", json.dumps({"status": "failed", "exit_code": 3}), JSON, 400, "exit_code"),
    case("job-not-allowed", json.dumps({"status": "failed", "job": "other"}), JSON, 400, "job"),
]


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app and API key for the whole catalogue: refused requests write nothing, so the
    cases cannot disturb each other, and ~70 sign-ups would dominate the runtime."""
    app = make_app(tmp_path_factory.mktemp("ingest-validation"))
    with app.app_context():
        user = accounts.create_user("owner@example.com", "correct horse battery")
        _, key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="test key")
        _db.session.commit()
    yield app, key
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def api(shared_app):
    app, key = shared_app
    with app.app_context():
        yield ApiClient(app.test_client(), key)
        _db.session.remove()


@pytest.fixture
def db(shared_app):
    return _db


def row_counts(db):
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in (Job, Run, AuditEvent))


def post_raw(api, path, raw, content_type):
    return api.client.post("/api/v1" + path, data=raw, headers={"Authorization": f"Bearer {api.key}",
                                                                 "Content-Type": content_type})


def assert_error_shape(response, status, field):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    if field is not None:  # the field, or a path inside it (`metadata.ratio`)
        assert any(name == field or name.startswith((field + ".", field + "[")) for name in error["fields"]), error


def test_catalogue_is_big_enough():
    assert len(REPORT_CASES) >= 25


@pytest.mark.parametrize(("raw", "content_type", "status", "field"), REPORT_CASES)
def test_malformed_report_is_refused_and_writes_nothing(api, db, raw, content_type, status, field):
    before = row_counts(db)
    response = post_raw(api, "/runs", raw, content_type)
    assert_error_shape(response, status, field)
    assert row_counts(db) == before


@pytest.mark.parametrize(("raw", "content_type", "status", "field"), FINISH_CASES)
def test_malformed_finish_is_refused_and_leaves_the_run_running(api, db, raw, content_type, status, field):
    run_id = api.post("/runs", json={"job": "nightly-report"}).json["id"]
    before = row_counts(db)
    response = post_raw(api, f"/runs/{run_id}/finish", raw, content_type)
    assert_error_shape(response, status, field)
    assert row_counts(db) == before
    assert api.get(f"/runs/{run_id}").json["status"] == "running"


def test_every_problem_is_reported_at_once(api):
    response = api.post("/runs", json={"job": "", "status": "crashed", "message": 5, "metadata": [],
                                       "deadline_seconds": 0})
    assert response.status_code == 400
    assert set(response.json["error"]["fields"]) == {"job", "status", "message", "metadata", "deadline_seconds"}


def test_valid_report_with_nulls_for_optional_fields_is_accepted(api):
    response = api.post("/runs", json={"job": "nightly-report", "external_id": None, "deadline_seconds": None,
                                       "deadline_at": None, "message": None, "metadata": None, "status": None})
    assert response.status_code == 201 and response.json["status"] == "running"
