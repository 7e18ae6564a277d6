"""Endpoint secrets stay secret: encrypted at
rest, readable after a key rotation, never in pages, API reads or logs; another workspace's
endpoint ids answer 404 on every page and POST; every endpoint form needs its CSRF token."""
import base64
import logging
import re

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks.webhooks import Webhook

from tests.endpoints.test_pages import (
    ENDPOINTS,
    HEADER_VALUE,
    create_via_form,
    endpoint_form,
    endpoint_named,
    stored_secret,
    text_of,
)
from tests.support.accounts import PASSWORD, AuthActions, create_api_key_via_page
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery, Endpoint
from webapp.services import crypto

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def raw_rows(table: str) -> str:
    """Every column of every row, as the database holds them."""
    _db.session.commit()
    rows = _db.session.execute(sa.text(f"select * from {table}")).all()  # noqa: S608 (fixed names)
    assert rows, f"no rows in {table}"
    return "\n".join(repr(tuple(row)) for row in rows)


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


@pytest.fixture
def endpoint(client, owner, receiver) -> Endpoint:
    create_via_form(client, receiver.url(), headers=f"Authorization: {HEADER_VALUE}\nX-Team: team-value-93b1")
    return endpoint_named()


def verified(received, secret: str) -> dict:
    return Webhook(secret).verify(received.body, {name: received.headers[name] for name in
                                                  ("webhook-id", "webhook-timestamp", "webhook-signature")})


# --- encryption at rest ------------------------------------------------------------------------


def test_the_raw_row_holds_neither_the_secret_nor_a_header_value(client, endpoint):
    secret = stored_secret(endpoint)
    client.post(f"{ENDPOINTS}/{endpoint.id}/rotate")  # the previous secret is stored too
    new_secret = stored_secret(endpoint_named())
    row = raw_rows("endpoint")
    for clear in (secret, new_secret, secret.removeprefix("whsec_"), new_secret.removeprefix("whsec_"),
                  HEADER_VALUE, "team-value-93b1"):
        assert clear not in row
    assert "Authorization" in row and "gAAAA" in row  # header names in clear, values as Fernet tokens


def test_the_delivery_record_holds_no_header_value_or_signature(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    signature = receiver.wait_for(1)[0].headers["webhook-signature"]
    record = raw_rows("delivery_attempt") + raw_rows("delivery")
    assert HEADER_VALUE not in record and "team-value-93b1" not in record
    assert signature.split(",", 1)[1] not in record


def test_rows_written_with_an_old_key_still_work_when_a_new_key_is_listed_first(app, client, owner, receiver):
    app.config["TOCSIN_ENCRYPTION_KEY"] = OLD_KEY
    create_via_form(client, receiver.url(), headers=f"Authorization: {HEADER_VALUE}")
    endpoint = endpoint_named()
    secret = Fernet(OLD_KEY.encode()).decrypt(endpoint.secret_encrypted.encode()).decode()

    app.config["TOCSIN_ENCRYPTION_KEY"] = f"{NEW_KEY},{OLD_KEY}"
    revealed = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/reveal", follow_redirects=True))
    assert secret in revealed
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/test", follow_redirects=True))
    assert '<span class="http-status">200</span>' in html
    (received,) = receiver.wait_for(1)
    assert received.headers["authorization"] == HEADER_VALUE
    assert verified(received, secret)["type"] == "alert.test"

    client.post(f"{ENDPOINTS}/{endpoint.id}/rotate")
    rotated = endpoint_named()
    assert Fernet(NEW_KEY.encode()).decrypt(rotated.secret_encrypted.encode()).decode().startswith("whsec_")
    assert Fernet(OLD_KEY.encode()).decrypt(rotated.previous_secret_encrypted.encode()).decode() == secret


def test_without_an_encryption_key_the_row_is_encrypted_with_a_key_derived_from_secret_key(app, endpoint):
    assert not app.config.get("TOCSIN_ENCRYPTION_KEY")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=crypto.HKDF_INFO).derive(
        app.config["SECRET_KEY"].encode())
    fernet = Fernet(base64.urlsafe_b64encode(derived))
    assert fernet.decrypt(endpoint.secret_encrypted.encode()).decode() == stored_secret(endpoint)
    assert fernet.decrypt(endpoint.headers_encrypted["Authorization"].encode()).decode() == HEADER_VALUE


def test_a_secret_no_listed_key_can_read_fails_the_test_send_in_words(app, client, endpoint, receiver):
    app.config["TOCSIN_ENCRYPTION_KEY"] = NEW_KEY
    app.config["SECRET_KEY"] = "a-different-secret-key"  # the derived key that wrote the row is gone
    with client.session_transaction() as session:  # the old session cookie is no longer valid
        session.clear()
    AuthActions(client).login()
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/test", follow_redirects=True)
    assert response.status_code == 200
    assert "TOCSIN_ENCRYPTION_KEY" in text_of(response)
    assert receiver.requests == []


# --- the secret never shows where it should not ------------------------------------------------


def test_the_secret_is_in_no_page_but_the_one_that_shows_it(client, endpoint, receiver):
    secret = stored_secret(endpoint)
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    delivery_id = _db.session.scalar(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id))
    for path in (ENDPOINTS, f"{ENDPOINTS}/{endpoint.id}", f"{ENDPOINTS}/{endpoint.id}/edit",
                 f"{ENDPOINTS}/{endpoint.id}/rotate", f"{ENDPOINTS}/{endpoint.id}/delete",
                 "/settings/alerts/deliveries", f"/settings/alerts/deliveries/{delivery_id}",
                 "/settings/audit-log"):
        html = text_of(client.get(path))
        for clear in (secret, HEADER_VALUE, "team-value-93b1"):
            assert clear not in html, path


def test_the_secret_stays_out_of_the_logs(app, client, owner, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and its parameters
    mine = "whsec_" + base64.b64encode(b"log-me-not-" * 3).decode()
    create_via_form(client, receiver.url(), secret=mine, headers=f"Authorization: {HEADER_VALUE}")
    endpoint = endpoint_named()
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    receiver.respond(500, body="receiver trouble")
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    client.post(f"{ENDPOINTS}/{endpoint.id}/reveal")
    client.post(f"{ENDPOINTS}/{endpoint.id}/rotate")
    rotated = stored_secret(endpoint_named())
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    key = create_api_key_via_page(client)
    api_created = client.post("/api/v1/endpoints", headers={"Authorization": f"Bearer {key}"},
                              json={"name": "From the API", "url": receiver.url(),
                                    "headers": {"X-Api": "api-header-value-55"}}).get_json()
    client.post(f"/api/v1/endpoints/{api_created['id']}/secret/rotate",
                headers={"Authorization": f"Bearer {key}", "X-Confirm-Destructive": "true"})
    client.post(f"/api/v1/endpoints/{api_created['id']}/test", headers={"Authorization": f"Bearer {key}"})
    assert len(receiver.wait_for(4)) == 4
    logged = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    assert caplog.records, "the flow logged nothing at DEBUG: the check would prove nothing"
    for clear in (mine, mine.removeprefix("whsec_"), rotated, rotated.removeprefix("whsec_"),
                  api_created["secret"], HEADER_VALUE, "api-header-value-55"):
        assert clear not in logged


def test_audit_events_never_hold_a_secret_or_header_value(client, endpoint):
    secret = stored_secret(endpoint)
    client.post(f"{ENDPOINTS}/{endpoint.id}/reveal")
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(
        endpoint.url, headers="Authorization: Bearer replaced-value-61\nX-Team:"))
    summaries = raw_rows("audit_event")
    for clear in (secret, HEADER_VALUE, "team-value-93b1", "replaced-value-61"):
        assert clear not in summaries


# --- another workspace -------------------------------------------------------------------------

PAGES = ["", "/edit", "/rotate", "/delete"]
POSTS = ["/edit", "/test", "/reveal", "/reveal-url", "/rotate", "/enable", "/disable", "/delete", "/retry-dead"]


def test_another_workspace_gets_404_on_every_endpoint_page_and_post(app, endpoint, receiver):
    secret = stored_secret(endpoint)
    intruder = app.test_client()
    AuthActions(intruder).signup("intruder@example.com")
    for suffix in PAGES:
        response = intruder.get(f"{ENDPOINTS}/{endpoint.id}{suffix}")
        assert response.status_code == 404, f"GET {suffix}"
    for suffix in POSTS:
        response = intruder.post(f"{ENDPOINTS}/{endpoint.id}{suffix}",
                                 data=endpoint_form(receiver.url(), name="Stolen", since="2020-01-01T00:00"))
        assert response.status_code == 404, f"POST {suffix}"
        assert secret not in text_of(response)
    assert f'data-endpoint-id="{endpoint.id}"' not in text_of(intruder.get(ENDPOINTS))
    untouched = endpoint_named()
    assert (untouched.is_active, untouched.deleted_at, stored_secret(untouched)) == (True, None, secret)
    assert receiver.requests == []
    actions = _db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.startswith("endpoint."))).all()
    assert actions == ["endpoint.create"]


def test_another_workspace_cannot_see_the_endpoints_delivery(app, client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    delivery_id = _db.session.scalar(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id))
    intruder = app.test_client()
    AuthActions(intruder).signup("intruder@example.com")
    assert intruder.get(f"/settings/alerts/deliveries/{delivery_id}").status_code == 404


def test_signed_out_visitors_are_sent_to_the_login_page(app, endpoint):
    visitor = app.test_client()
    for suffix in ["", "/edit"]:
        response = visitor.get(f"{ENDPOINTS}/{endpoint.id}{suffix}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert visitor.post(f"{ENDPOINTS}/{endpoint.id}/reveal").status_code == 302


# --- CSRF --------------------------------------------------------------------------------------


class TestCsrf:
    """With CSRF on (as in production), every endpoint form refuses a POST without its token."""

    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    @staticmethod
    def token(client, path) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text_of(client.get(path))).group(1)

    @pytest.fixture
    def signed_in(self, client):
        client.post("/signup", data={"email": "owner@example.com", "password": PASSWORD, "confirm": PASSWORD,
                                     "csrf_token": self.token(client, "/signup")})
        return client

    @pytest.fixture
    def csrf_endpoint(self, signed_in, receiver) -> Endpoint:
        data = endpoint_form(receiver.url(), csrf_token=self.token(signed_in, f"{ENDPOINTS}/new"))
        assert signed_in.post(f"{ENDPOINTS}/new", data=data).status_code == 302
        return endpoint_named()

    def test_creating_without_a_token_is_refused(self, signed_in, receiver):
        response = signed_in.post(f"{ENDPOINTS}/new", data=endpoint_form(receiver.url()))
        assert response.status_code == 400
        assert endpoint_named() is None

    def test_preview_without_a_token_is_refused(self, signed_in, receiver):
        response = signed_in.post(f"{ENDPOINTS}/new", data=endpoint_form(receiver.url(), preview="Preview"))
        assert response.status_code == 400

    @pytest.mark.parametrize("suffix", POSTS)
    def test_every_endpoint_post_without_a_token_is_400_and_changes_nothing(self, signed_in, csrf_endpoint,
                                                                           receiver, suffix):
        secret = stored_secret(csrf_endpoint)
        if suffix == "/enable":
            csrf_endpoint.is_active = False
            _db.session.commit()
        before = _db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
        response = signed_in.post(f"{ENDPOINTS}/{csrf_endpoint.id}{suffix}",
                                  data=endpoint_form(receiver.url(), name="Changed", since="2020-01-01T00:00"))
        assert response.status_code == 400
        after = endpoint_named()
        assert after.name == "Ops hook" and after.deleted_at is None and stored_secret(after) == secret
        assert after.is_active is (suffix != "/enable")
        assert _db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == before
        assert _db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0
        assert receiver.requests == []

    def test_with_its_token_the_same_post_works(self, signed_in, csrf_endpoint):
        token = self.token(signed_in, f"{ENDPOINTS}/{csrf_endpoint.id}")
        response = signed_in.post(f"{ENDPOINTS}/{csrf_endpoint.id}/disable", data={"csrf_token": token})
        assert response.status_code == 302
        assert endpoint_named().is_active is False
