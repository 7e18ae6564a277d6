"""Endpoint URLs are credentials (a Slack, Discord or Teams URL is all it takes to post): encrypted
at rest with the host alone in clear, shown masked on every page and in the API, revealed only by
an audited action, and never in clear in an attempt record, an audit entry or a log line."""
import logging
import socket
import threading

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.endpoints.test_pages import ENDPOINTS, create_via_form, endpoint_form, endpoint_named, text_of
from tests.support.accounts import AuthActions
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery, DeliveryAttempt, Endpoint
from webapp.services import crypto
from webapp.services.delivery import pool

TOKEN = "secrettoken123"
API_TOKEN = "apitoken456"
SLACK_LIKE = f"/services/T000/B000/{TOKEN}"


@pytest.fixture(autouse=True)
def drain_send_pool():
    """No test leaves a first attempt running into the next one's database."""
    yield
    pool.wait_idle(10)


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


@pytest.fixture
def endpoint(client, owner, receiver) -> Endpoint:
    create_via_form(client, receiver.url(SLACK_LIKE))
    return endpoint_named()


def masked(receiver) -> str:
    return f"http://127.0.0.1:{receiver.port}/services/••••"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def audit_actions() -> list[str]:
    return list(_db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.startswith("endpoint."))
                                    .order_by(AuditEvent.id)))


def deliver_a_failed_run(api, endpoint_ids: list[int], receiver, count: int) -> None:
    rule = api.post("/rules", json={"name": "Nightly failing", "event": "run_failed", "job_filter": "nightly-*",
                                    "severity": "critical", "endpoint_ids": endpoint_ids, "cooldown_seconds": 0})
    assert rule.status_code == 201, rule.get_json()
    run = api.post("/runs", json={"job": "nightly-report", "status": "failed", "message": "exit code 3"})
    assert run.status_code == 201, run.get_json()
    receiver.wait_for(count)
    assert pool.wait_idle(10)


def database_file_bytes(app) -> bytes:
    """The SQLite database as it lies on disk: the main file after a checkpoint, plus any WAL or journal."""
    _db.session.commit()
    _db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    _db.session.commit()
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    contents = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        try:
            with open(path + suffix, "rb") as file:
                contents += file.read()
        except FileNotFoundError:
            pass
    return contents


def every_row_as_text() -> str:
    """Every column of every table, as the database holds it (SQLite or PostgreSQL)."""
    _db.session.commit()
    lines = []
    for table in _db.metadata.sorted_tables:
        quoted = _db.engine.dialect.identifier_preparer.quote(table.name)
        lines += [repr(tuple(row)) for row in _db.session.execute(sa.text(f"SELECT * FROM {quoted}"))]  # noqa: S608
    return "\n".join(lines)


# --- at rest -----------------------------------------------------------------------------------


def test_the_database_file_never_holds_the_url_in_clear(app, client, api, receiver):
    create_via_form(client, receiver.url(SLACK_LIKE), name="From the page")
    from_page = endpoint_named("From the page")
    from_api = api.post("/endpoints", json={"name": "From the API", "url": receiver.url(f"/api/hooks/{API_TOKEN}")})
    assert from_api.status_code == 201, from_api.get_json()
    client.post(f"{ENDPOINTS}/{from_page.id}/test")
    client.post(f"{ENDPOINTS}/{from_page.id}/reveal-url")
    client.post(f"{ENDPOINTS}/{from_page.id}/edit", data=endpoint_form("", name="From the page, renamed"))

    deliver_a_failed_run(api, [from_page.id, from_api.get_json()["id"]], receiver, 3)

    assert sorted(request.path for request in receiver.requests) == sorted(
        [SLACK_LIKE, SLACK_LIKE, f"/api/hooks/{API_TOKEN}"])
    on_disk = database_file_bytes(app)
    assert b"nightly-report" in on_disk  # the file is the one the app wrote to
    for clear in (TOKEN, API_TOKEN, "T000/B000", "/api/hooks"):
        assert clear.encode() not in on_disk, clear
    stored = _db.session.execute(sa.text("SELECT url_host, url_encrypted FROM endpoint ORDER BY id")).all()
    assert [host for host, _token in stored] == ["127.0.0.1", "127.0.0.1"]
    assert crypto.decrypt(stored[0][1]) == receiver.url(SLACK_LIKE)
    assert _db.session.scalar(sa.select(sa.func.count(DeliveryAttempt.id))) == 3


@pytest.mark.postgres_too
def test_no_row_of_any_table_holds_the_url_in_clear(client, api, receiver):
    created = api.post("/endpoints", json={"name": "Hook", "url": receiver.url(SLACK_LIKE)}).get_json()
    api.post(f"/endpoints/{created['id']}/test")
    api.get(f"/endpoints/{created['id']}/url")
    api.patch(f"/endpoints/{created['id']}", json={"url": receiver.url(f"/api/hooks/{API_TOKEN}")})
    deliver_a_failed_run(api, [created["id"]], receiver, 2)

    rows = every_row_as_text()
    assert "127.0.0.1" in rows and "gAAAA" in rows  # the host in clear, the URL a Fernet token
    for clear in (TOKEN, API_TOKEN, "T000/B000", "/api/hooks"):
        assert clear not in rows, clear


# --- shown masked ------------------------------------------------------------------------------


def test_every_page_shows_the_url_masked(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    receiver.wait_for(1)
    delivery_id = _db.session.scalar(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id))
    listed = text_of(client.get(ENDPOINTS))
    assert masked(receiver) in listed
    assert masked(receiver) in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))
    for path in (ENDPOINTS, f"{ENDPOINTS}/{endpoint.id}", f"{ENDPOINTS}/{endpoint.id}/edit",
                 f"{ENDPOINTS}/{endpoint.id}/delete", f"{ENDPOINTS}/{endpoint.id}/rotate",
                 "/settings/alerts/deliveries", f"/settings/alerts/deliveries/{delivery_id}", "/settings/audit-log"):
        assert TOKEN not in text_of(client.get(path)), path


def test_the_edit_form_shows_the_masked_url_and_a_blank_url_keeps_the_stored_one(client, endpoint, receiver):
    form = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/edit"))
    assert f'placeholder="{masked(receiver)}"' in form and "leave blank to keep the current URL" in form

    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form("", name="Renamed"))

    assert response.status_code == 302
    assert endpoint_named("Renamed").url == receiver.url(SLACK_LIKE)


def test_sending_the_masked_url_back_keeps_the_stored_one(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(masked(receiver), name="Renamed"))

    kept = endpoint_named("Renamed")
    assert kept.url == receiver.url(SLACK_LIKE)
    assert "url" not in _db.session.scalars(sa.select(AuditEvent.summary).order_by(AuditEvent.id.desc())).first()


def test_a_new_url_replaces_the_stored_one_and_is_audited_without_its_value(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(receiver.url("/other/newtoken789")))

    changed = endpoint_named()
    assert changed.url == receiver.url("/other/newtoken789") and changed.url_host == "127.0.0.1"
    summary = _db.session.scalars(sa.select(AuditEvent.summary).order_by(AuditEvent.id.desc())).first()
    assert "changed url" in summary and "newtoken789" not in summary


def test_a_masked_url_is_not_accepted_as_an_address(client, owner, receiver):
    html = text_of(client.post(f"{ENDPOINTS}/new", data=endpoint_form(masked(receiver))))
    assert "This is a masked URL" in html
    assert endpoint_named() is None


def test_reveal_on_the_detail_page_shows_the_url_once_and_is_audited(client, endpoint, receiver):
    revealed = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/reveal-url", follow_redirects=True))

    assert f'id="endpoint-revealed-url">{receiver.url(SLACK_LIKE)}<' in revealed
    assert audit_actions() == ["endpoint.create", "endpoint.reveal_url"]
    event = _db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "endpoint.reveal_url")).one()
    assert event.user_id is not None and event.object_id == str(endpoint.id) and TOKEN not in event.summary
    assert TOKEN not in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))  # once only


def test_the_api_shows_the_url_masked_and_reveals_it_audited(api, receiver):
    created = api.post("/endpoints", json={"name": "Hook", "url": receiver.url(SLACK_LIKE)})
    body = created.get_json()
    assert created.status_code == 201 and body["url"] == masked(receiver)
    assert api.get(f"/endpoints/{body['id']}").get_json()["url"] == masked(receiver)
    assert [item["url"] for item in api.get("/endpoints").get_json()["items"]] == [masked(receiver)]

    revealed = api.get(f"/endpoints/{body['id']}/url")

    assert revealed.status_code == 200 and revealed.headers["Cache-Control"] == "no-store"
    assert revealed.get_json() == {"id": body["id"], "url": receiver.url(SLACK_LIKE)}
    assert audit_actions() == ["endpoint.create", "endpoint.reveal_url"]


def test_a_patch_that_sends_the_masked_url_back_keeps_it(api, receiver):
    body = api.post("/endpoints", json={"name": "Hook", "url": receiver.url(SLACK_LIKE)}).get_json()

    response = api.patch(f"/endpoints/{body['id']}", json={"name": "Renamed", "url": body["url"]})

    assert response.status_code == 200, response.get_json()
    assert api.get(f"/endpoints/{body['id']}/url").get_json()["url"] == receiver.url(SLACK_LIKE)


def test_a_patch_with_another_masked_url_is_a_validation_error(api, receiver):
    body = api.post("/endpoints", json={"name": "Hook", "url": receiver.url(SLACK_LIKE)}).get_json()

    response = api.patch(f"/endpoints/{body['id']}", json={"url": receiver.url("/elsewhere/••••")})

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    assert set(response.get_json()["error"]["fields"]) == {"url"}


def test_another_workspace_cannot_reveal_the_url(client, api, other_api, receiver):
    body = api.post("/endpoints", json={"name": "Hook", "url": receiver.url(SLACK_LIKE)}).get_json()
    assert other_api.get(f"/endpoints/{body['id']}/url").status_code == 404
    assert audit_actions() == ["endpoint.create"]


# --- failures and logs -------------------------------------------------------------------------


class _EchoingReceiver:
    """Answers every request with a broken status line that quotes the request line (the path)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                request_line = connection.recv(65536).split(b"\r\n", 1)[0]
                connection.sendall(b"GARBAGE " + request_line + b"\r\n\r\n")


@pytest.fixture
def echoing_receiver():
    echoing = _EchoingReceiver()
    yield echoing
    echoing.server.close()


def test_failed_sends_record_no_token_in_their_error(client, owner, receiver, echoing_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    urls = {"refused": f"http://127.0.0.1:{closed_port()}{SLACK_LIKE}",
            "echoed": f"http://127.0.0.1:{echoing_receiver.port}{SLACK_LIKE}?key={TOKEN}",
            "redirected": receiver.url(SLACK_LIKE)}
    receiver.respond(302, headers={"Location": receiver.url(SLACK_LIKE)})
    pages = []
    for name, url in urls.items():
        create_via_form(client, url, name=name)
        pages.append(text_of(client.post(f"{ENDPOINTS}/{endpoint_named(name).id}/test", follow_redirects=True)))

    errors = dict(_db.session.execute(sa.select(Endpoint.name, DeliveryAttempt.error)
                                      .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                                      .join(Endpoint, Endpoint.id == Delivery.endpoint_id)).all())
    assert errors["refused"] == "connection refused"
    assert "GARBAGE POST /services/•••• HTTP/1.1" in errors["echoed"]
    assert errors["redirected"] == f"redirect to {masked(receiver)} not followed"
    last_errors = _db.session.scalars(sa.select(Delivery.last_error)).all()
    logged = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    for text in (*errors.values(), *last_errors, *pages, logged):
        assert TOKEN not in (text or "")


def test_the_url_stays_out_of_the_logs(client, api, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and its parameters
    create_via_form(client, receiver.url(SLACK_LIKE))
    endpoint = endpoint_named()
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    api.post("/endpoints", json={"name": "From the API", "url": receiver.url(f"/api/hooks/{API_TOKEN}")})
    deliver_a_failed_run(api, [endpoint.id], receiver, 2)

    logged = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    assert "INSERT INTO endpoint" in logged  # the statements were logged, with their parameters
    assert TOKEN not in logged and API_TOKEN not in logged


# --- a key that is gone ------------------------------------------------------------------------


def test_a_url_no_key_can_read_leaves_the_pages_working_and_the_send_skipped(app, client, endpoint, receiver):
    secret = crypto.decrypt(endpoint.secret_encrypted)
    app.config["TOCSIN_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    app.config["SECRET_KEY"] = "a-different-secret-key"  # the derived key that wrote the URL is gone
    endpoint.secret_encrypted = crypto.encrypt(secret)  # only the URL is unreadable
    _db.session.commit()
    with client.session_transaction() as session:
        session.clear()
    AuthActions(client).login()

    assert "127.0.0.1/••••" in text_of(client.get(ENDPOINTS))
    assert client.get(f"{ENDPOINTS}/{endpoint.id}/edit").status_code == 200
    assert "TOCSIN_ENCRYPTION_KEY" in text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/reveal-url",
                                                          follow_redirects=True))
    assert "TOCSIN_ENCRYPTION_KEY" in text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/test", follow_redirects=True))
    assert receiver.requests == []
    assert audit_actions() == ["endpoint.create", "endpoint.test"]

    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(receiver.url("/entered/again")))
    assert endpoint_named().url == receiver.url("/entered/again")
