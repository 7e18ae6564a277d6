"""CSRF: every form POST of the dashboard needs the form's token, so another site cannot make a
logged-in browser change anything; the JSON API under /api/v1 is exempt (it takes no cookies,
only `Authorization: Bearer`)."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, shown_api_key
from tests.support.factories import make_delivery, make_endpoint
from webapp.models import ApiKey, Invite, Rule, Silence, User, Workspace
from webapp.timeutil import utcnow

TOKEN_PATTERN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def token_from(client, path: str) -> str:
    return TOKEN_PATTERN.search(client.get(path).get_data(as_text=True)).group(1)


def sign_up_with_token(client, email="owner@example.com") -> None:
    token = token_from(client, "/signup")
    response = client.post("/signup", data={"email": email, "password": PASSWORD, "confirm": PASSWORD,
                                            "csrf_token": token})
    assert response.headers["Location"] == "/overview"


def every_row(db) -> dict[str, list]:
    """The whole database, table by table, to show that a refused POST changed nothing."""
    db.session.expire_all()
    return {table.name: db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            for table in db.metadata.sorted_tables}


def form_post_paths(app, ids: dict[str, int]) -> list[str]:
    """Every POST route outside /api/, with real ids of this workspace filled in."""
    adapter = app.url_map.bind("tocsin.test")
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.rule.startswith("/api/"):
            continue
        values = {argument: ids.get(argument, "disable") for argument in rule.arguments}
        paths.append(adapter.build(rule.endpoint, values))
    return sorted(paths)


@pytest.fixture
def workspace_with_one_of_everything(client, db):
    """A logged-in owner whose workspace has an API key, endpoint, rule, alert, delivery and invite."""
    sign_up_with_token(client)
    token = token_from(client, "/settings/api-keys")
    client.post("/settings/api-keys", data={"name": "cron", "csrf_token": token})
    client.post("/settings/invites", data={"email": "member@example.com", "csrf_token": token})
    user = db.session.scalars(sa.select(User)).one()
    endpoint, _ = make_endpoint(db.session.get(Workspace, user.workspace_id), "http://127.0.0.1:9/hook")
    delivery = make_delivery(endpoint)
    silence = Silence(workspace_id=user.workspace_id, job_filter="*", starts_at=utcnow(),
                      ends_at=utcnow() + timedelta(hours=1))
    db.session.add(silence)
    db.session.commit()
    return {"key_id": db.session.scalar(sa.select(ApiKey.id)), "endpoint_id": endpoint.id,
            "rule_id": db.session.scalar(sa.select(Rule.id)), "alert_id": delivery.alert_id,
            "delivery_id": delivery.id, "invite_id": db.session.scalar(sa.select(Invite.id)),
            "silence_id": silence.id}


def test_every_form_post_without_a_token_answers_400_and_changes_nothing(app, client, db,
                                                                         workspace_with_one_of_everything):
    paths = form_post_paths(app, workspace_with_one_of_everything)
    assert {"/login", "/signup", "/logout", "/settings/api-keys"} <= set(paths)
    assert len(paths) >= 15
    before = every_row(db)

    answers = {path: client.post(path, data={"name": "forged", "url": "http://127.0.0.1:9/x"}) for path in paths}

    refused = {path: response.status_code for path, response in answers.items()}
    assert refused == dict.fromkeys(paths, 400)
    assert all("security token" in response.get_data(as_text=True) for response in answers.values())
    assert every_row(db) == before
    assert client.get("/overview").status_code == 200  # still logged in: even /logout was refused


def test_a_wrong_token_is_refused_like_a_missing_one(client, db, workspace_with_one_of_everything):
    key_id = workspace_with_one_of_everything["key_id"]

    response = client.post(f"/settings/api-keys/{key_id}/revoke", data={"csrf_token": "forged-token"})

    assert response.status_code == 400
    assert db.session.get(ApiKey, key_id).revoked_at is None


def test_a_token_from_another_session_is_refused(app, client, db, workspace_with_one_of_everything):
    stranger = app.test_client()
    stranger_token = token_from(stranger, "/login")

    response = client.post("/settings/api-keys", data={"name": "forged", "csrf_token": stranger_token})

    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1


def test_the_same_form_post_with_the_pages_token_works(client, db, workspace_with_one_of_everything):
    token = token_from(client, "/settings/api-keys")

    response = client.post("/settings/api-keys", data={"name": "with token", "csrf_token": token})

    assert response.status_code == 302
    assert db.session.scalar(sa.select(ApiKey.id).where(ApiKey.name == "with token")) is not None


def test_the_api_is_exempt_a_bearer_post_without_token_works(client, db):
    sign_up_with_token(client)
    token = token_from(client, "/settings/api-keys")
    page = client.post("/settings/api-keys", data={"name": "cron", "csrf_token": token}, follow_redirects=True)
    key = shown_api_key(page.get_data(as_text=True))

    response = client.post("/api/v1/runs", json={"job": "nightly-report"},
                           headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["job"] == "nightly-report"
