"""An endpoint's signature scheme and header names through the API and the pages (the same service
validation): bad input is a 400 / form error naming the field, a scheme change fits the secret to
the new scheme (kept when it fits, else a new one shown once), and rotation says what it does."""

import pytest
import sqlalchemy as sa

from tests.endpoints.test_pages import ENDPOINTS, create_via_form, endpoint_named, stored_secret, text_of
from tests.signing.test_hex_schemes import PASTED
from webapp.models import AuditEvent
from webapp.services import crypto

URL = "http://127.0.0.1:9/hook"


def create(api, **fields):
    return api.post("/endpoints", json={"name": "Signed hook", "url": URL, **fields})


# --- the API ------------------------------------------------------------------------------------


def test_the_api_shows_the_scheme_and_its_header_settings(api):
    default = create(api).json
    assert (default["signature_scheme"], default["signature_header"], default["signature_header_prefix"]) == \
        ("standard-webhooks", None, None)
    timestamped = create(api, signature_scheme="timestamped-hmac-hex").json
    assert timestamped["signature_header_prefix"] == "X-Tocsin-" and len(timestamped["secret"]) == 64
    assert api.get(f"/endpoints/{timestamped['id']}").json["signature_scheme"] == "timestamped-hmac-hex"


@pytest.mark.parametrize("fields, field, words", [
    ({"signature_scheme": "md5"}, "signature_scheme", "Choose one of: standard-webhooks, hmac-sha256-hex"),
    ({"signature_scheme": ["none"], "secret": PASTED}, "signature_scheme", "Choose one of"),
    ({"signature_scheme": "hmac-sha256-hex", "signature_header": "Bad Name"}, "signature_header", "not a valid header"),
    ({"signature_scheme": "hmac-sha256-hex", "signature_header": "Content-Type"}, "signature_header", "Tocsin sets"),
    ({"signature_scheme": "hmac-sha256-hex", "signature_header": "webhook-signature"}, "signature_header",
     "Tocsin sets"),
    ({"signature_scheme": "hmac-sha256-hex", "signature_header": 7}, "signature_header", "Must be text"),
    ({"signature_scheme": "timestamped-hmac-hex", "signature_header_prefix": "X-CueAPI"}, "signature_header_prefix",
     "must end with “-”"),
    ({"signature_scheme": "timestamped-hmac-hex", "signature_header_prefix": "webhook-"}, "signature_header_prefix",
     "belong to Standard Webhooks"),
    ({"signature_header": "X-Hub-Signature-256"}, "signature_header", "Applies to the hmac-sha256-hex scheme only"),
    ({"signature_scheme": "hmac-sha256-hex", "signature_header_prefix": "X-A-"}, "signature_header_prefix",
     "timestamped-hmac-hex scheme only"),
    ({"signature_scheme": "hmac-sha256-hex", "secret": "too short"}, "secret", "16–256 characters"),
    ({"signature_scheme": "hmac-sha256-hex", "secret": "sixteen\ncharacters!"}, "secret", "printable"),
    ({"secret": PASTED}, "secret", "must start with whsec_"),
    ({"signature_scheme": "none", "secret": PASTED}, "secret", "sends no signature"),
    ({"signature_scheme": "hmac-sha256-hex", "headers": {"x-webhook-signature": "forged"}}, "headers",
     "signature header of this endpoint"),
    ({"signature_scheme": "timestamped-hmac-hex", "signature_header_prefix": "X-CueAPI-",
      "headers": {"X-CueAPI-Timestamp": "1"}}, "headers", "X-CueAPI-Timestamp is a signature header"),
])
def test_bad_signature_settings_are_a_400_naming_the_field(api, fields, field, words):
    response = create(api, **fields)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error" and words in error["fields"][field], error


def test_a_scheme_change_keeps_a_secret_that_fits_and_ends_the_rotation_grace(api):
    endpoint = create(api, signature_scheme="hmac-sha256-hex", secret=PASTED).json
    api.post(f"/endpoints/{endpoint['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"})
    rotated = api.get(f"/endpoints/{endpoint['id']}/secret").json["secret"]
    changed = api.patch(f"/endpoints/{endpoint['id']}",
                        json={"signature_scheme": "timestamped-hmac-hex", "signature_header_prefix": "X-CueAPI-"})
    assert changed.status_code == 200, changed.json
    assert "secret" not in changed.json  # the rotated 64-hex secret fits the timestamped scheme too
    assert (changed.json["signature_header"], changed.json["signature_header_prefix"]) == (None, "X-CueAPI-")
    assert api.get(f"/endpoints/{endpoint['id']}/secret").json["secret"] == rotated


def test_a_scheme_change_whose_secret_does_not_fit_shows_a_new_one_once(api, db):
    endpoint = create(api, signature_scheme="hmac-sha256-hex", secret="a pass phrase, not base64").json
    changed = api.patch(f"/endpoints/{endpoint['id']}", json={"signature_scheme": "standard-webhooks"})
    assert changed.status_code == 200 and changed.json["secret"].startswith("whsec_")
    assert changed.json["signature_header"] is None
    assert api.get(f"/endpoints/{endpoint['id']}").json.get("secret") is None  # shown once
    assert api.get(f"/endpoints/{endpoint['id']}/secret").json["secret"] == changed.json["secret"]
    summary = db.session.scalars(sa.select(AuditEvent.summary).where(AuditEvent.action == "endpoint.update")).one()
    assert "new signing secret" in summary and changed.json["secret"] not in summary


def test_leaving_none_always_makes_a_new_secret(api):
    endpoint = create(api, signature_scheme="none", format="slack").json
    assert "secret" not in endpoint
    changed = api.patch(f"/endpoints/{endpoint['id']}", json={"signature_scheme": "hmac-sha256-hex"})
    assert len(changed.json["secret"]) == 64 and changed.json["signature_header"] == "X-Webhook-Signature"


def test_none_has_no_secret_to_rotate(api):
    endpoint = create(api, signature_scheme="none").json
    response = api.post(f"/endpoints/{endpoint['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"})
    assert response.status_code == 400 and "no secret to rotate" in response.json["error"]["fields"]["signature_scheme"]


def test_rotating_a_one_signature_scheme_has_no_grace(api):
    endpoint = create(api, signature_scheme="hmac-sha256-hex").json
    rotated = api.post(f"/endpoints/{endpoint['id']}/secret/rotate", headers={"X-Confirm-Destructive": "true"}).json
    assert rotated["previous_secret_valid_until"] is None and len(rotated["secret"]) == 64


# --- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


def test_the_form_offers_the_schemes_and_proposes_none_for_preset_formats(client, owner):
    html = text_of(client.get(f"{ENDPOINTS}/new"))
    for scheme in ("standard-webhooks", "hmac-sha256-hex", "timestamped-hmac-hex", "none"):
        assert f'value="{scheme}"' in html
    assert 'data-unsigned-formats="slack discord teams ntfy pagerduty"' in html
    assert 'data-for-scheme="hmac-sha256-hex"' in html and "tocsin.js" in html
    script = client.get("/static/tocsin.js").get_data(as_text=True)
    assert 'scheme.value = "none"' in script


def test_a_hex_endpoint_made_with_the_form_keeps_a_pasted_secret_and_shows_its_header(client, owner):
    page = text_of(create_via_form(client, URL, signature_scheme="hmac-sha256-hex",
                                   signature_header="X-Hub-Signature-256", secret=PASTED))
    endpoint = endpoint_named()
    assert (endpoint.signature_scheme, endpoint.signature_header) == ("hmac-sha256-hex", "X-Hub-Signature-256")
    assert stored_secret(endpoint) == PASTED and PASTED in page  # shown once
    assert "X-Hub-Signature-256: sha256=&lt;hex&gt;" in page
    assert "x-hub-signature-256" in page  # in the snippets


def test_the_form_ignores_the_settings_of_another_scheme(client, owner):
    create_via_form(client, URL, signature_scheme="standard-webhooks", signature_header="X-Hub-Signature-256",
                    signature_header_prefix="X-CueAPI-")
    endpoint = endpoint_named()
    assert (endpoint.signature_scheme, endpoint.signature_header, endpoint.signature_header_prefix) == \
        ("standard-webhooks", None, None)


def test_a_bad_header_name_is_a_form_error(client, owner):
    page = text_of(create_via_form(client, URL, signature_scheme="hmac-sha256-hex", signature_header="Host"))
    assert "Host is a header Tocsin sets itself" in page and endpoint_named() is None


def test_a_scheme_change_on_the_edit_page_shows_the_new_secret_once(client, owner):
    create_via_form(client, URL, signature_scheme="timestamped-hmac-hex", secret=PASTED)
    endpoint = endpoint_named()
    page = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/edit", follow_redirects=True,
                               data={"name": "Ops hook", "url": URL, "format": "json", "timeout_seconds": "5",
                                     "headers": "", "signature_scheme": "standard-webhooks",
                                     "signature_header_prefix": "X-CueAPI-"}))
    secret = stored_secret(endpoint_named())
    assert secret.startswith("whsec_") and secret in page  # a 64-hex secret is no Standard Webhooks secret
    assert "new secret for the new signature scheme" in page and "webhook-signature: v1,&lt;base64&gt;" in page
    assert endpoint_named().signature_header_prefix is None
    assert secret not in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))


def test_the_rotate_page_says_a_one_signature_scheme_signs_with_the_new_secret_only(client, owner):
    create_via_form(client, URL, signature_scheme="timestamped-hmac-hex")
    endpoint = endpoint_named()
    assert "signed with the new secret only" in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/rotate"))
    page = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/rotate", follow_redirects=True))
    assert "Deliveries are signed with the new secret only" in page
    assert "previous secret also signs" not in page
    assert crypto.decrypt(endpoint_named().secret_encrypted) in page


def test_a_none_endpoint_says_no_signature_headers_are_sent(client, owner):
    page = text_of(create_via_form(client, URL, format="slack", signature_scheme="none"))
    assert "No signature headers are sent" in page and "Copy its signing secret" not in page
    assert 'id="endpoint-secret"' not in page
