"""The first run: the overview's checklist ticks itself off step by step, the run-report snippets
carry the real base URL (and the key, on the page that creates it) and work as pasted, and
revoking a key asks first."""
import html as html_lib
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, ApiClient, create_api_key_via_page
from tests.support.live_server import LiveServer
from webapp.models import ApiKey, Job, Run
from webapp.services import first_run

STEPS = ["api_key", "run", "endpoint", "test_alert", "rule"]


def step_states(html: str) -> dict[str, str]:
    """{step: "done" | "todo"} as the overview's checklist shows them."""
    return {key: state for state, key in re.findall(r'<li class="step (done|todo)[^"]*" data-step="([a-z_]+)"', html)}


def overview(client) -> str:
    response = client.get("/overview")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def snippet_text(html: str, element_id: str) -> str:
    """The text of a snippet as the browser would copy it (the DOM text of the Copy button's target)."""
    match = re.search(rf'<pre class="snippet-code" id="{element_id}"[^>]*><code>(.*?)</code></pre>', html, re.S)
    assert match, f"no snippet #{element_id}"
    return html_lib.unescape(match.group(1))


def test_the_checklist_ticks_off_each_step_then_goes_away(client, auth, receiver):
    auth.signup()
    page = overview(client)
    assert "Get started" in page and "0 of 5 steps done" in page
    assert step_states(page) == dict.fromkeys(STEPS, "todo")
    assert 'href="/settings/api-keys"' in page
    assert page.index('id="first-run"') < page.index("firing alerts")  # above the counts

    api = ApiClient(client, create_api_key_via_page(client, "nightly cron"))
    page = overview(client)
    assert "1 of 5 steps done" in page
    assert step_states(page) == {"api_key": "done", "run": "todo", "endpoint": "todo", "test_alert": "todo",
                                 "rule": "todo"}

    assert api.post("/runs", json={"job": "nightly-backup", "status": "succeeded"}).status_code == 201
    page = overview(client)
    assert "2 of 5 steps done" in page and step_states(page)["run"] == "done"
    assert "Add an endpoint first." in page  # nothing to send a test alert to yet

    endpoint = api.post("/endpoints", json={"name": "Ops hook", "url": receiver.url("/hook")}).get_json()
    page = overview(client)
    assert "3 of 5 steps done" in page and step_states(page)["endpoint"] == "done"
    assert f'action="/settings/alerts/endpoints/{endpoint["id"]}/test"' in page
    assert "Send a test alert to “Ops hook”" in page

    client.post(f"/settings/alerts/endpoints/{endpoint['id']}/test")
    receiver.wait_for(1)
    page = overview(client)
    assert "4 of 5 steps done" in page and step_states(page)["test_alert"] == "done"
    assert step_states(page)["rule"] == "todo" and 'href="/settings/alerts/rules/new"' in page

    assert api.post("/rules", json={"name": "failures", "event": "run_failed",
                                    "endpoint_ids": [endpoint["id"]]}).status_code == 201
    page = overview(client)
    assert 'id="first-run"' not in page and "steps done" not in page
    assert "firing alerts" in page  # the counts remain


def test_an_endpoint_that_was_deleted_no_longer_counts(client, auth, api):
    endpoint = api.post("/endpoints", json={"name": "Gone", "url": "http://127.0.0.1:9/hook"}).get_json()
    assert step_states(overview(client))["endpoint"] == "done"
    assert api.delete(f"/endpoints/{endpoint['id']}").status_code in (200, 204)
    assert step_states(overview(client))["endpoint"] == "todo"


def test_overview_snippets_use_the_configured_base_url_and_the_key_placeholder(client, auth):
    auth.signup()
    page = overview(client)
    curl = snippet_text(page, "overview-snippet-curl-once")
    assert curl.startswith('curl -fsS -X POST "http://tocsin.test/api/v1/runs"')
    assert '-H "Authorization: Bearer $TOCSIN_API_KEY"' in curl
    assert "$TOCSIN_API_KEY" in page and "create a key" in page
    assert 'data-copy-target="#overview-snippet-curl-once"' in page
    for key in ("curl-start-finish", "crontab", "python"):
        assert "http://tocsin.test/api/v1/runs" in snippet_text(page, f"overview-snippet-{key}")
    assert 'os.environ["TOCSIN_API_KEY"]' in snippet_text(page, "overview-snippet-python")


@pytest.mark.parametrize("app_config", [{"TOCSIN_BASE_URL": first_run.DEFAULT_BASE_URL}])
def test_without_tocsin_base_url_the_snippets_use_the_address_the_browser_used(client):
    where = "https://alerts.example.org:8443"
    client.post("/signup", base_url=where, data={"email": "owner@example.com", "password": PASSWORD,
                                                 "confirm": PASSWORD})
    page = client.get("/overview", base_url=where).get_data(as_text=True)
    assert snippet_text(page, "overview-snippet-curl-once").startswith(
        'curl -fsS -X POST "https://alerts.example.org:8443/api/v1/runs"')


def test_the_new_key_page_shows_the_key_with_a_copy_button_and_snippets_with_it_filled_in(client, auth):
    auth.signup()
    page = client.post("/settings/api-keys", data={"name": "db-01 cron"}, follow_redirects=True).get_data(as_text=True)
    key = re.search(r'id="new-api-key">(tk_[A-Za-z0-9_-]+)<', page).group(1)
    assert 'data-copy-target="#new-api-key"' in page
    assert "Report a run with “db-01 cron”" in page
    for snippet in ("curl-once", "curl-start-finish", "crontab", "python"):
        text = snippet_text(page, f"key-snippet-{snippet}")
        assert key in text and "$TOCSIN_API_KEY" not in text and "http://tocsin.test/api/v1/runs" in text
        assert f'data-copy-target="#key-snippet-{snippet}"' in page
    assert key not in client.get("/settings/api-keys").get_data(as_text=True)  # shown once


def test_the_empty_jobs_page_shows_the_same_snippets(client, auth):
    auth.signup()
    page = client.get("/jobs").get_data(as_text=True)
    assert "No jobs yet" in page
    assert snippet_text(page, "jobs-snippet-curl-once") == snippet_text(overview(client), "overview-snippet-curl-once")
    assert 'data-copy-target="#jobs-snippet-python"' in page


@pytest.fixture
def served(app):
    """The app on a loopback port, with TOCSIN_BASE_URL pointing at it as an operator would set it."""
    server = LiveServer(app).start()
    app.config["TOCSIN_BASE_URL"] = server.url
    yield server
    server.stop()


def _new_key_page(client) -> tuple[str, str]:
    page = client.post("/settings/api-keys", data={"name": "snippets"}, follow_redirects=True).get_data(as_text=True)
    return page, re.search(r'id="new-api-key">(tk_[A-Za-z0-9_-]+)<', page).group(1)


def _runs(db, slug="nightly-backup") -> list[Run]:
    db.session.expire_all()
    return db.session.scalars(sa.select(Run).join(Job).where(Job.slug == slug).order_by(Run.id)).all()


def test_the_curl_snippets_work_as_pasted(served, client, auth, db):
    auth.signup()
    page, _ = _new_key_page(client)
    for name in ("curl-once", "curl-start-finish"):
        result = subprocess.run(["bash", "-c", snippet_text(page, f"key-snippet-{name}")], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    once, started = _runs(db)
    assert (once.status, once.duration_ms, once.message) == ("succeeded", 42000, "backup done")
    assert (started.status, started.message, started.deadline_at is not None) == ("succeeded", "backup done", True)


def test_the_overview_snippets_work_once_tocsin_api_key_is_exported(served, client, auth, db):
    auth.signup()
    _, key = _new_key_page(client)
    page = overview(client)
    environment = {"PATH": "/usr/bin:/bin", "TOCSIN_API_KEY": key}
    curl = subprocess.run(["bash", "-c", snippet_text(page, "overview-snippet-curl-once")], capture_output=True,
                          text=True, timeout=30, env=environment)
    python = subprocess.run([sys.executable, "-c", snippet_text(page, "overview-snippet-python")],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert curl.returncode == 0 and python.returncode == 0, curl.stderr + python.stderr
    assert [run.status for run in _runs(db)] == ["succeeded", "succeeded"]


def test_the_crontab_line_reports_how_the_command_ended(served, client, auth, db):
    auth.signup()
    page, _ = _new_key_page(client)
    line = snippet_text(page, "key-snippet-crontab")
    schedule, command = line[:10], line[10:]
    assert schedule == "0 2 * * * " and "%" not in command  # cron turns % into a newline
    for script in ("false", "true"):
        result = subprocess.run(["sh", "-c", command.replace("/usr/local/bin/backup.sh", script)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    failed, succeeded = _runs(db)
    assert (failed.status, failed.message) == ("failed", "exit code 1")
    assert (succeeded.status, succeeded.message) == ("succeeded", "exit code 0")


def test_the_python_snippet_runs_as_pasted(served, client, auth, db):
    auth.signup()
    page, _ = _new_key_page(client)
    result = subprocess.run([sys.executable, "-c", snippet_text(page, "key-snippet-python")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    (run,) = _runs(db)
    assert run.status == "succeeded" and run.finished_at is not None


def test_revoking_a_key_asks_first_and_only_the_confirmation_revokes(client, auth, db):
    auth.signup()
    create_api_key_via_page(client, "nightly cron")
    key = db.session.scalar(sa.select(ApiKey))
    listing = client.get("/settings/api-keys").get_data(as_text=True)
    assert f'href="/settings/api-keys/{key.id}/revoke"' in listing
    assert f'action="/settings/api-keys/{key.id}/revoke"' not in listing  # no one-click revoke form

    confirm = client.get(f"/settings/api-keys/{key.id}/revoke")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "Revoke API key “nightly cron”?" in text and "401" in text and "Cancel" in text
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is None

    response = client.post(f"/settings/api-keys/{key.id}/revoke", follow_redirects=True)
    assert "revoked: requests using it now get 401" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is not None
    again = client.get(f"/settings/api-keys/{key.id}/revoke", follow_redirects=True)
    assert again.status_code == 200 and "already revoked" in again.get_data(as_text=True)


def test_the_revoke_confirmation_of_an_unknown_or_foreign_key_is_not_found(client, auth, app):
    auth.signup()
    assert client.get("/settings/api-keys/999999/revoke").status_code == 404
    assert client.get("/settings/api-keys/abc/revoke").status_code == 404
