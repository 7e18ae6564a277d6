"""API key scopes: an `ingest` key (what a cron host holds) reports, finishes and reads runs and
reads /me, and gets 403 `insufficient_scope` everywhere else, endpoint secrets first of all; a
`full` key, and every key made before scopes existed, still calls the whole API."""
import re

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from tests.operations.test_migrations import bare_app, logging_untouched  # noqa: F401  (fixtures)
from tests.support.accounts import ApiClient, create_api_key_via_page, shown_api_key
from tests.support.factories import endpoint_id_via_api, workspace_id_of
from webapp.blueprints.api.openapi import document
from webapp.blueprints.api.scopes import INGEST_ENDPOINTS, INGEST_OPERATIONS
from webapp.extensions import db as _db
from webapp.models import ApiKey, AuditEvent, Rule
from webapp.services import accounts

METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def ingest_api(client, auth):
    """An `ingest` key of a freshly signed-up user (who stays logged in on `client`)."""
    auth.signup()
    return ApiClient(client, create_api_key_via_page(client, "cron on db-01", scope="ingest"))


@pytest.fixture
def full_api(ingest_api):
    """A `full` key of the same workspace."""
    return ApiClient(ingest_api.client, create_api_key_via_page(ingest_api.client, "terraform", scope="full"))


def assert_insufficient_scope(response):
    assert response.status_code == 403, response.get_json()
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == "insufficient_scope"
    assert "scope ingest" in response.json["error"]["message"]
    assert "scope full" in response.json["error"]["message"]  # names the scope the request needs


def api_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint name, method, path) of every /api/v1 route, path parameters filled with 1."""
    return sorted((rule.endpoint, method, re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule))
                  for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
                  for method in rule.methods & METHODS)


# --- an ingest key: runs only ---------------------------------------------------------------------


def test_ingest_key_reports_finishes_and_reads_its_runs(ingest_api):
    reported = ingest_api.post("/runs", json={"job": "nightly-backup", "status": "running", "deadline_seconds": 600})
    assert reported.status_code == 201, reported.get_json()
    run_id = reported.json["id"]

    finished = ingest_api.post(f"/runs/{run_id}/finish", json={"status": "succeeded", "duration_ms": 1200})
    assert finished.status_code == 200, finished.get_json()
    assert finished.json["status"] == "succeeded"

    assert ingest_api.get(f"/runs/{run_id}").json["status"] == "succeeded"
    listed = ingest_api.get("/runs?job=nightly-backup")
    assert listed.status_code == 200
    assert [run["id"] for run in listed.json["items"]] == [run_id]


def test_ingest_key_reports_a_finished_run_in_one_request(ingest_api):
    response = ingest_api.post("/runs", json={"job": "hourly-sync", "status": "failed", "message": "exit code 3"})

    assert response.status_code == 201
    assert response.json["status"] == "failed"


def test_me_names_the_keys_scope(ingest_api, full_api):
    ingest_me, full_me = ingest_api.get("/me"), full_api.get("/me")

    assert ingest_me.status_code == full_me.status_code == 200
    assert ingest_me.json["scope"] == "ingest" and full_me.json["scope"] == "full"
    assert ingest_me.json["workspace"] == full_me.json["workspace"]


def test_ingest_key_cannot_list_endpoints_or_read_a_secret_or_url(ingest_api, full_api):
    endpoint_id = endpoint_id_via_api(full_api)
    secret = full_api.get(f"/endpoints/{endpoint_id}/secret").json["secret"]

    for path in ("/endpoints", f"/endpoints/{endpoint_id}", f"/endpoints/{endpoint_id}/secret",
                 f"/endpoints/{endpoint_id}/url"):
        response = ingest_api.get(path)
        assert_insufficient_scope(response)
        assert secret not in response.get_data(as_text=True) and "127.0.0.1" not in response.get_data(as_text=True)


def test_ingest_key_cannot_create_a_rule_or_rotate_a_secret(ingest_api, full_api, db):
    endpoint_id = endpoint_id_via_api(full_api)

    assert_insufficient_scope(ingest_api.post("/rules", json={"name": "steal", "event": "run_failed",
                                                              "endpoint_ids": [endpoint_id]}))
    assert_insufficient_scope(ingest_api.post(f"/endpoints/{endpoint_id}/secret/rotate"))
    assert_insufficient_scope(ingest_api.post("/endpoints", json={"name": "mine", "url": "http://127.0.0.1:9/x"}))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rule)) == 0
    assert full_api.get("/endpoints").json["items"][0]["id"] == endpoint_id  # still the only one


def test_ingest_key_is_refused_on_every_route_outside_its_list(app, ingest_api):
    """Walks the URL map: a route added later is refused until it joins the ingest list."""
    walked = 0
    for endpoint, method, path in api_routes(app):
        if endpoint == "api.openapi_document":
            continue
        response = ingest_api.client.open(path, method=method, json={},
                                          headers={"Authorization": f"Bearer {ingest_api.key}"})
        if endpoint in INGEST_ENDPOINTS:
            assert response.status_code != 403, (method, path)
        else:
            assert_insufficient_scope(response)
            walked += 1
    assert walked >= 20


def test_the_ingest_list_names_real_routes_and_the_openapi_document_agrees(app):
    routed = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")))
              for rule in app.url_map.iter_rules() if rule.endpoint in INGEST_ENDPOINTS
              for method in rule.methods & METHODS}
    assert routed == INGEST_OPERATIONS
    assert {rule.endpoint for rule in app.url_map.iter_rules()} >= INGEST_ENDPOINTS
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or operation.get("security") == []:
                continue
            refused = "insufficient_scope" in operation["responses"].get("403", {}).get("description", "")
            assert refused == ((method, path) not in INGEST_OPERATIONS), (method, path)


# --- a full key, and keys from before scopes ------------------------------------------------------


def test_full_key_still_does_everything(full_api):
    endpoint_id = endpoint_id_via_api(full_api)

    assert full_api.get("/endpoints").status_code == 200
    assert full_api.get(f"/endpoints/{endpoint_id}/secret").json["secret"].startswith("whsec_")
    rule = full_api.post("/rules", json={"name": "failures", "event": "run_failed", "endpoint_ids": [endpoint_id]})
    assert rule.status_code == 201, rule.get_json()
    run = full_api.post("/runs", json={"job": "nightly-backup", "status": "running"})
    assert run.status_code == 201
    assert full_api.post(f"/runs/{run.json['id']}/finish", json={"status": "succeeded"}).status_code == 200
    assert full_api.get("/jobs").status_code == full_api.get("/alerts").status_code == 200


def test_a_key_made_before_scopes_is_full_and_keeps_working(client, auth, db):
    """A row written without `scope`, as every key was before migration 0017: the database's
    default makes it `full`, as the migration does for existing rows."""
    auth.signup()
    key = accounts.API_KEY_PREFIX + "made-before-scopes-0123456789abcdefghijklmnop"
    db.session.execute(sa.text("INSERT INTO api_key (workspace_id, name, prefix, key_hash, created_at) "
                               "VALUES (:workspace, 'old cron', :prefix, :hash, CURRENT_TIMESTAMP)"),
                       {"workspace": workspace_id_of(), "prefix": key[:10], "hash": accounts.hash_api_key(key)})
    db.session.commit()
    old = ApiClient(client, key)

    assert db.session.scalar(sa.select(ApiKey.scope)) == "full"
    assert old.get("/me").json["scope"] == "full"
    assert old.get("/endpoints").status_code == 200
    assert old.post("/runs", json={"job": "nightly-backup", "status": "succeeded"}).status_code == 201


@pytest.mark.postgres_too
@pytest.mark.usefixtures("bare_app")
def test_migration_0017_makes_every_existing_key_full():
    db = _db
    upgrade(revision="0016")
    db.session.execute(sa.text("INSERT INTO workspace (name, created_at) VALUES ('ops', CURRENT_TIMESTAMP)"))
    db.session.execute(sa.text("INSERT INTO api_key (workspace_id, name, prefix, key_hash, created_at) "
                               "SELECT id, 'old cron', 'tk_old', 'hash-of-old-key', CURRENT_TIMESTAMP FROM workspace"))
    db.session.commit()

    upgrade()

    assert db.session.execute(sa.text("SELECT name, scope FROM api_key")).all() == [("old cron", "full")]


def test_the_database_refuses_an_unknown_scope(app, auth, db):
    auth.signup()
    api_key, _ = accounts.create_api_key(workspace_id=workspace_id_of(), user_id=None, name="x")
    db.session.commit()

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(ApiKey).where(ApiKey.id == api_key.id).values(scope="admin"))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(accounts.AccountError, match="Unknown API key scope"):
        accounts.create_api_key(workspace_id=workspace_id_of(), user_id=None, name="y", scope="admin")


# --- the API keys page -----------------------------------------------------------------------------


def test_the_page_proposes_ingest_and_lists_each_keys_scope(auth, client, db):
    auth.signup()

    form = client.get("/settings/api-keys").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="ingest"|<input[^>]*value="ingest"[^>]*checked', form)
    assert not re.search(r'<input[^>]*value="full"[^>]*checked|<input[^>]*checked[^>]*value="full"', form)
    assert "what a cron host needs" in form and "endpoint secrets included" in form

    client.post("/settings/api-keys", data={"name": "cron on db-01"})  # no scope sent: the default
    created = client.post("/settings/api-keys", data={"name": "terraform", "scope": "full"}, follow_redirects=True)
    html = created.get_data(as_text=True)
    assert "with scope <strong>full</strong>" in html  # the reveal names the new key's scope
    shown_api_key(html)

    rows = dict(db.session.execute(sa.select(ApiKey.name, ApiKey.scope)).all())
    assert rows == {"cron on db-01": "ingest", "terraform": "full"}
    listing = client.get("/settings/api-keys").get_data(as_text=True)
    assert "<th>Scope</th>" in listing
    assert '<span class="badge scope-ingest">ingest</span>' in listing
    assert '<span class="badge scope-full">full</span>' in listing


def test_a_new_key_from_the_page_is_ingest_and_its_snippet_key_reports_runs(auth, client):
    auth.signup()
    page = client.post("/settings/api-keys", data={"name": "cron"}, follow_redirects=True).get_data(as_text=True)
    key = shown_api_key(page)
    assert f"Bearer {key}" in page  # the run-report snippets carry the key

    api = ApiClient(client, key)
    assert api.post("/runs", json={"job": "nightly", "status": "succeeded"}).status_code == 201
    assert_insufficient_scope(api.get("/endpoints"))


def test_an_unknown_scope_on_the_page_is_a_form_error(auth, client, db):
    auth.signup()

    response = client.post("/settings/api-keys", data={"name": "x", "scope": "admin"})

    assert response.status_code == 200
    assert 'class="error"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_key_creation_is_audited_with_its_scope(auth, client, db):
    auth.signup()
    create_api_key_via_page(client, "cron on db-01", scope="ingest")

    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "api_key.create")).one()
    assert "scope ingest" in event.summary
    assert "scope ingest" in client.get("/settings/audit-log").get_data(as_text=True)


# --- the shell ---------------------------------------------------------------------------------------


def shell(app, *args, stdin=None):
    return app.test_cli_runner().invoke(args=["tocsin", *args], input=stdin)


def test_the_cli_creates_an_ingest_key_that_reports_runs_and_nothing_else(app, client, db):
    assert shell(app, "create-user", "ops@example.com", "--password-stdin", stdin="correct horse battery\n").exit_code == 0

    result = shell(app, "create-api-key", "ops@example.com", "--scope", "ingest")

    assert result.exit_code == 0, result.output
    api = ApiClient(client, result.output.strip())
    assert api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"}).status_code == 201
    assert api.get("/me").json["scope"] == "ingest"
    assert_insufficient_scope(api.get("/endpoints"))
    assert_insufficient_scope(api.post("/rules", json={"name": "x", "event": "run_failed"}))
    api_key = db.session.scalars(sa.select(ApiKey)).one()
    assert (api_key.scope, api_key.name) == ("ingest", "ingest key from the shell")
    summary = db.session.scalars(sa.select(AuditEvent.summary).where(AuditEvent.action == "api_key.create")).one()
    assert "scope ingest" in summary


def test_the_cli_keeps_full_as_its_default_and_refuses_an_unknown_scope(app, client, db):
    shell(app, "create-user", "ops@example.com", "--password-stdin", stdin="correct horse battery\n")

    default = shell(app, "create-api-key", "ops@example.com", "--name", "deploy pipeline")
    unknown = shell(app, "create-api-key", "ops@example.com", "--scope", "admin")

    assert default.exit_code == 0, default.output
    assert ApiClient(client, default.output.strip()).get("/endpoints").status_code == 200
    assert unknown.exit_code != 0 and "'admin' is not one of 'ingest', 'full'" in unknown.output
    assert db.session.scalars(sa.select(ApiKey.scope)).all() == ["full"]
