"""Configuration as code (docs/config.md): `tocsin export` / `tocsin import` and
`GET` / `POST /api/v1/config`. A workspace exported, imported into an empty one and exported again
gives the same file; secrets never appear in an export; a dry run says what would change and
writes nothing; a broken file is refused whole with every error and its path."""
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml

from tests.support.accounts import AuthActions
from tests.support.gunicorn import REPO_ROOT, SECRET_KEY
from webapp.models import AuditEvent, Endpoint, Job, Rule
from webapp.services import config_as_code

HEADER_VALUE = "team-ops-header-value"
SLACK_TOKEN = "slack-url-token-B0456"
OTHER = "colleague@example.com"


@pytest.fixture
def workspace(api):
    """An owner's workspace with a scheduled job, a signed endpoint with a header, a Slack
    endpoint (its URL is the credential) and a rule to both; returns the secrets it holds."""
    signed = api.post("/endpoints", json={"name": "Ops pager", "url": "http://127.0.0.1:9/hook",
                                          "headers": {"X-Team": HEADER_VALUE}, "timeout_seconds": 15})
    assert signed.status_code == 201, signed.get_json()
    slack = api.post("/endpoints", json={"name": "Chat", "url": f"http://127.0.0.1:9/services/{SLACK_TOKEN}",
                                         "format": "slack", "signature_scheme": "none"})
    assert slack.status_code == 201, slack.get_json()
    assert api.post("/jobs", json={"slug": "nightly-backup", "name": "Nightly backup",
                                   "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Paris"},
                                   "grace_seconds": 600}).status_code == 201
    assert api.post("/rules", json={"name": "Backup failures", "event": "run_failed", "job_filter": "nightly-*",
                                    "endpoint_ids": [signed.get_json()["id"], slack.get_json()["id"]],
                                    "severity": "critical", "cooldown_seconds": 120}).status_code == 201
    return {"secret": signed.get_json()["secret"]}


def export(app, email="owner@example.com", *arguments) -> str:
    result = app.test_cli_runner().invoke(args=["tocsin", "export", "--user", email, *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def import_file(app, path, email="owner@example.com", *arguments, env=None):
    os.environ.update(env or {})
    try:
        return app.test_cli_runner().invoke(args=["tocsin", "import", "--user", email, str(path), *arguments])
    finally:
        for name in env or {}:
            os.environ.pop(name, None)


def references(secret) -> dict:
    return {"TOCSIN_SECRET_OPS_PAGER": secret, "TOCSIN_HEADER_OPS_PAGER_X_TEAM": HEADER_VALUE,
            "TOCSIN_URL_CHAT": f"http://127.0.0.1:9/services/{SLACK_TOKEN}"}


def counts(db) -> tuple:
    db.session.rollback()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in (Job, Endpoint, Rule,
                                                                                                  AuditEvent))


@pytest.mark.postgres_too
def test_export_import_into_an_empty_workspace_and_export_again_gives_the_same_file(app, workspace, db, tmp_path):
    exported = export(app)
    document = yaml.safe_load(exported)
    assert document["version"] == 1
    assert [job["slug"] for job in document["jobs"]] == ["nightly-backup"]
    assert document["jobs"][0]["schedule"] == {"cron": "0 2 * * *", "timezone": "Europe/Paris"}
    assert [endpoint["name"] for endpoint in document["endpoints"]] == ["Chat", "Ops pager"]
    assert document["rules"][0]["endpoints"] == ["Chat", "Ops pager"]
    # Secret values never leave: references to fill in instead.
    for secret in (workspace["secret"], HEADER_VALUE, SLACK_TOKEN):
        assert secret not in exported
    pager = document["endpoints"][1]
    assert pager["secret"] == {"env": "TOCSIN_SECRET_OPS_PAGER"}
    assert pager["headers"] == {"X-Team": {"env": "TOCSIN_HEADER_OPS_PAGER_X_TEAM"}}
    assert pager["url"] == "http://127.0.0.1:9/hook" and document["endpoints"][0]["url"] == {"env": "TOCSIN_URL_CHAT"}

    AuthActions(app.test_client()).signup(OTHER)
    file = tmp_path / "tocsin.yaml"
    file.write_text(exported)
    applied = import_file(app, file, OTHER, env=references(workspace["secret"]))
    assert applied.exit_code == 0, applied.output
    assert "create job nightly-backup" in applied.stdout and "create rule 'Backup failures'" in applied.stdout
    assert "Applied (4 create, 0 update, 0 unchanged, 0 delete)." in applied.stdout
    assert export(app, OTHER) == exported

    again = import_file(app, file, OTHER, env=references(workspace["secret"]))
    assert again.exit_code == 0 and "Applied (0 create, 0 update, 4 unchanged, 0 delete)." in again.stdout


def test_the_imported_endpoint_keeps_the_secret_and_header_its_references_name(app, workspace, db, tmp_path):
    file = tmp_path / "tocsin.json"
    file.write_text(export(app, "owner@example.com", "--format", "json"))
    AuthActions(app.test_client()).signup(OTHER)
    assert import_file(app, file, OTHER, env=references(workspace["secret"])).exit_code == 0
    from webapp.services import crypto
    from webapp.services.endpoints.validation import endpoint_headers

    db.session.rollback()
    copies = db.session.scalars(sa.select(Endpoint).where(Endpoint.name == "Ops pager")).all()
    assert len(copies) == 2
    for endpoint in copies:
        assert crypto.decrypt(endpoint.secret_encrypted) == workspace["secret"]
        assert endpoint_headers(endpoint) == {"X-Team": HEADER_VALUE}


def test_a_dry_run_prints_the_plan_as_a_diff_and_changes_nothing(app, workspace, db, tmp_path):
    document = yaml.safe_load(export(app))
    document["endpoints"][1]["timeout_seconds"] = 30
    document["jobs"][0]["grace_seconds"] = 900
    document["rules"].append({"name": "Slow backups", "event": "run_slow", "threshold_seconds": 3600,
                              "endpoints": ["Ops pager"]})
    file = tmp_path / "tocsin.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    before = counts(db)

    planned = import_file(app, file, "owner@example.com", "--dry-run")
    assert planned.exit_code == 0, planned.output
    lines = planned.stdout.splitlines()
    assert "update endpoint 'Ops pager': timeout_seconds: 15 → 30" in lines
    assert "update job nightly-backup: grace_seconds: 600 → 900" in lines
    assert "create rule 'Slow backups'" in lines
    assert "unchanged endpoint 'Chat'" in lines and "unchanged rule 'Backup failures'" in lines
    assert lines[-1] == "Dry run: nothing changed (1 create, 2 update, 2 unchanged, 0 delete)."
    assert counts(db) == before
    assert db.session.scalar(sa.select(Endpoint.timeout_seconds).where(Endpoint.name == "Ops pager")) == 15

    applied = import_file(app, file)
    assert applied.exit_code == 0 and "Applied (1 create, 2 update, 2 unchanged, 0 delete)." in applied.stdout
    db.session.rollback()
    assert db.session.scalar(sa.select(Endpoint.timeout_seconds).where(Endpoint.name == "Ops pager")) == 30
    assert db.session.scalar(sa.select(AuditEvent.summary).where(AuditEvent.action == "config.import"))


def test_a_broken_file_is_refused_whole_with_every_error_and_its_path(app, workspace, db, tmp_path):
    document = yaml.safe_load(export(app))
    document["endpoints"][1]["timeout_seconds"] = 30  # a good change: not applied either
    document["endpoints"][0]["timeout_seconds"] = -5
    document["jobs"][0]["schedule"] = {"cron": "61 * * * *"}
    document["rules"].append({"name": "Typo", "event": "run_faild", "endpoints": ["Ops pager"]})
    document["rules"].append({"name": "Nowhere", "event": "run_failed", "endpoints": ["No such hook"]})
    document["rules"][0]["colour"] = "red"
    file = tmp_path / "broken.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    before = counts(db)

    refused = import_file(app, file)
    assert refused.exit_code == 1
    errors = refused.stderr
    assert "rules[0].colour: unknown field" in errors
    del document["rules"][0]["colour"]  # the shape is checked first; then every object's fields
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    refused = import_file(app, file)
    assert refused.exit_code == 1
    errors = refused.stderr
    assert f"{file} was not applied: 4 error(s), nothing changed." in errors
    assert 'rules[1].event: unknown event "run_faild"' in errors
    assert 'rules[2].endpoints: unknown endpoint "No such hook"' in errors
    assert "endpoints[0].timeout_seconds:" in errors
    assert "jobs[0].schedule" in errors
    assert counts(db) == before
    assert db.session.scalar(sa.select(Endpoint.timeout_seconds).where(Endpoint.name == "Ops pager")) == 15


@pytest.mark.parametrize("text, message", [
    ("version: 2\n", "version: must be 1"),
    ("- just a list\n", "The file must be a mapping"),
    ("version: 1\njobs: [unclosed\n", "not valid YAML or JSON (line"),
    ("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n", "aliases (*name) are not allowed"),
    ("version: 1\nendpoints:\n- name: A\n  url: http://127.0.0.1:9/a\n- name: a\n  url: http://127.0.0.1:9/b\n",
     "endpoints[1].name: 'a' appears twice in endpoints"),
    ("version: 1\nendpoints:\n- name: A\n  url: http://127.0.0.1:9/a\n  headers: {X-Key: {env: SECRET_KEY}}\n",
     "a reference must be named TOCSIN_SECRET_"),
])
def test_files_that_cannot_be_used_say_why(app, api, tmp_path, text, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    refused = import_file(app, file)
    assert refused.exit_code == 1 and message in refused.stderr, refused.output


def test_prune_deletes_only_what_the_file_leaves_out(app, workspace, db, tmp_path):
    document = yaml.safe_load(export(app))
    document["rules"] = []
    document["endpoints"] = [endpoint for endpoint in document["endpoints"] if endpoint["name"] == "Ops pager"]
    file = tmp_path / "fewer.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    kept = import_file(app, file)
    assert kept.exit_code == 0 and "0 delete" in kept.stdout
    assert counts(db)[:3] == (1, 2, 1)

    pruned = import_file(app, file, "owner@example.com", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "delete rule 'Backup failures'" in pruned.stdout and "delete endpoint 'Chat'" in pruned.stdout
    db.session.rollback()
    assert db.session.scalars(sa.select(Endpoint.name).where(Endpoint.deleted_at.is_(None))).all() == ["Ops pager"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rule)) == 0


def test_the_api_exports_and_applies_the_same_document(app, api, other_api, workspace, db):
    exported = api.get("/config")
    assert exported.status_code == 200
    assert exported.get_json() == yaml.safe_load(export(app))
    as_yaml = api.get("/config?format=yaml")
    assert as_yaml.mimetype == "application/yaml" and yaml.safe_load(as_yaml.get_data(as_text=True)) == \
        exported.get_json()
    assert workspace["secret"] not in as_yaml.get_data(as_text=True)

    document = exported.get_json()
    document["endpoints"][1]["timeout_seconds"] = 20
    planned = api.post("/config?dry_run=true", json=document)
    assert planned.status_code == 200, planned.get_json()
    body = planned.get_json()
    assert body["dry_run"] is True and body["applied"] is False
    assert "update endpoint 'Ops pager': timeout_seconds: 15 → 20" in body["plan"]
    assert db.session.scalar(sa.select(Endpoint.timeout_seconds).where(Endpoint.name == "Ops pager")) == 15

    applied = api.post("/config", json=document)
    assert applied.status_code == 200 and applied.get_json()["counts"]["update"] == 1
    db.session.rollback()
    assert db.session.scalar(sa.select(Endpoint.timeout_seconds).where(Endpoint.name == "Ops pager")) == 20
    # The other workspace is untouched, and cannot read this one.
    assert other_api.get("/config").get_json() == {"version": 1, "jobs": [], "endpoints": [], "rules": []}

    document["rules"][0]["event"] = "run_faild"
    refused = api.post("/config", json=document)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {"rules[0].event": 'unknown event "run_faild"'}


def test_an_ingest_key_cannot_read_or_apply_the_configuration(api, workspace):
    from tests.support.accounts import create_api_key_via_page

    ingest = api.__class__(api.client, create_api_key_via_page(api.client, "cron host", scope="ingest"))
    assert ingest.get("/config").get_json()["error"]["code"] == "insufficient_scope"
    assert ingest.post("/config", json={"version": 1}).status_code == 403


def test_the_shell_commands_work_as_the_docs_show(app, workspace, tmp_path, database_uri):
    """`flask --app wsgi tocsin export` then `import --dry-run`, as real processes."""
    environment = {**{name: value for name, value in os.environ.items() if not name.startswith("TOCSIN_")},
                   "TOCSIN_ENV": "production", "SECRET_KEY": app.config["SECRET_KEY"], "DATABASE_URL": database_uri,
                   "TOCSIN_BASE_URL": "https://tocsin.test", "TOCSIN_ALLOWED_NETWORKS": "127.0.0.0/8"}
    output = tmp_path / "tocsin.yaml"

    def flask(*arguments):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "tocsin", *arguments], cwd=REPO_ROOT,
                              env=environment, capture_output=True, text=True, timeout=120)

    exported = flask("export", "--user", "owner@example.com", "--output", str(output))
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(output.read_text())["version"] == 1
    planned = flask("import", "--user", "owner@example.com", str(output), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines()[-1] == "Dry run: nothing changed (0 create, 0 update, 4 unchanged, 0 delete)."
    assert json.loads(config_as_code.dump(yaml.safe_load(output.read_text()), "json"))["version"] == 1
    assert SECRET_KEY  # the processes use the app's key, so the stored secrets decrypt
