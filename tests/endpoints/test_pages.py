"""Settings → Alerts → Endpoints as a person uses them (blueprints/settings/endpoints.py): list, create,
edit, detail, delete with confirmation, enable/disable, the secret's life cycle and the audit log.
Everything goes through the real pages; test sends reach the loopback receiver."""
import base64
import re

import pytest
import sqlalchemy as sa

from tests.support.accounts import session_cookie_text
from tests.support.factories import saved_rule, workspace_id_of
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Delivery, Endpoint, Rule
from webapp.services import crypto

ENDPOINTS = "/settings/alerts/endpoints"
SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=]+")
HEADER_VALUE = "Bearer header-value-4f9a"

# --- helpers (also used by tests/endpoints/test_security.py) ------------------------------------


def endpoint_form(url, **fields) -> dict:
    return {"name": "Ops hook", "url": url, "format": "json", "timeout_seconds": "5", "headers": "", **fields}


def create_via_form(client, url, **fields):
    """POST the new-endpoint form and follow to the detail page."""
    return client.post(f"{ENDPOINTS}/new", data=endpoint_form(url, **fields), follow_redirects=True)


def endpoint_named(name="Ops hook") -> Endpoint:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(Endpoint).where(Endpoint.name == name))


def stored_secret(endpoint: Endpoint) -> str:
    return crypto.decrypt(endpoint.secret_encrypted)


def audit_events(action_prefix="endpoint.") -> list[AuditEvent]:
    return list(_db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.startswith(action_prefix))
                                    .order_by(AuditEvent.id)))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def row_of(html: str, endpoint_id: int) -> str:
    """The list page's table row of one endpoint."""
    match = re.search(rf'<tr data-endpoint-id="{endpoint_id}">(.*?)</tr>', html, re.S)
    assert match, f"endpoint {endpoint_id} is not listed"
    return match.group(1)


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


@pytest.fixture
def endpoint(client, owner, receiver) -> Endpoint:
    create_via_form(client, receiver.url(), headers=f"Authorization: {HEADER_VALUE}")
    return endpoint_named()


# --- list, create, detail ----------------------------------------------------------------------


def test_empty_list_invites_to_add_an_endpoint(client, owner):
    html = text_of(client.get(ENDPOINTS))
    assert "No endpoints yet" in html
    assert f'href="{ENDPOINTS}/new"' in html


def test_created_endpoint_is_listed_with_host_format_health_and_never_delivered(client, endpoint, receiver):
    row = row_of(text_of(client.get(ENDPOINTS)), endpoint.id)
    assert "Ops hook" in row
    assert f"127.0.0.1:{receiver.port}" in row
    assert "<td>JSON (Tocsin schema)</td>" in row  # the format's one label (services/labels.py)
    assert 'class="badge new"' in row  # never sent anything: new, not "healthy" (issue 19)
    assert "never" in row
    assert "Send test alert" in row


def test_list_shows_the_last_delivery_time_and_result(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test?back=list")
    html = text_of(client.get(ENDPOINTS))
    row = row_of(html, endpoint.id)
    assert "Test delivered" in row and "HTTP 200" in row
    assert "ago" in row or "just now" in row
    assert "never" not in row


def test_send_test_alert_from_the_list_comes_back_to_the_list_with_the_outcome(client, endpoint, receiver):
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/test?back=list", follow_redirects=True)
    html = text_of(response)
    assert response.request.path == ENDPOINTS
    assert 'id="test-outcome"' in html and "HTTP <span class=\"http-status\">200</span>" in html
    assert len(receiver.wait_for(1)) == 1


def test_create_stores_every_field(client, owner, receiver):
    create_via_form(client, receiver.url("/in"), name="Pager", format="slack", timeout_seconds="12",
                    headers="X-Team: ops\nAuthorization: Bearer abc")
    endpoint = endpoint_named("Pager")
    assert (endpoint.url, endpoint.format, endpoint.timeout_seconds) == (receiver.url("/in"), "slack", 12)
    assert endpoint.is_active and endpoint.workspace_id == workspace_id_of()
    assert set(endpoint.headers_encrypted) == {"X-Team", "Authorization"}
    assert crypto.decrypt(endpoint.headers_encrypted["Authorization"]) == "Bearer abc"


def test_detail_shows_settings_recent_deliveries_and_buttons(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    html = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))
    assert receiver.url() in html and "5 s" in html and "Authorization: ••••••" in html
    assert HEADER_VALUE not in html
    delivery = _db.session.scalar(sa.select(Delivery).where(Delivery.endpoint_id == endpoint.id))
    recent = re.search(rf'<tr data-delivery-id="{delivery.id}">(.*?)</tr>', html, re.S).group(1)
    assert "test" in recent and "200" in recent and f"/settings/alerts/deliveries/{delivery.id}" in recent
    for button in ("Send test alert", "Edit", "Reveal secret", "Rotate secret", "Disable", "Delete"):
        assert button in html


def test_detail_shows_the_outcome_of_a_test_send_once(client, endpoint, receiver):
    receiver.respond(201, body="thanks from the receiver")
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/test", follow_redirects=True))
    assert '<span class="http-status">201</span>' in html
    assert re.search(r'<span class="duration">\d+ ms</span>', html)
    assert "thanks from the receiver" in html
    assert 'id="test-outcome"' not in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))


# --- the secret --------------------------------------------------------------------------------


def test_secret_is_shown_once_at_creation(client, owner, receiver):
    html = text_of(create_via_form(client, receiver.url()))
    endpoint = endpoint_named()
    assert SECRET_PATTERN.findall(html) == [stored_secret(endpoint)]
    assert SECRET_PATTERN.search(text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))) is None
    assert stored_secret(endpoint) not in text_of(client.get(ENDPOINTS))


def test_the_new_secret_waits_for_its_page_encrypted_in_the_session_cookie(app, client, owner, receiver):
    client.post(f"{ENDPOINTS}/new", data=endpoint_form(receiver.url()))
    cookie = session_cookie_text(app, client)
    secret = stored_secret(endpoint_named())

    assert secret not in cookie and secret.removeprefix("whsec_")[:12] not in cookie
    assert SECRET_PATTERN.findall(text_of(client.get(f"{ENDPOINTS}/{endpoint_named().id}"))) == [secret]


def test_generated_secret_is_standard_webhooks_form(client, endpoint):
    key = base64.b64decode(stored_secret(endpoint).removeprefix("whsec_"))
    assert 24 <= len(key) <= 64


def test_reveal_shows_the_secret_and_is_audited(client, endpoint):
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/reveal", follow_redirects=True)
    html = text_of(response)
    assert SECRET_PATTERN.findall(html) == [stored_secret(endpoint)]
    assert response.headers["Cache-Control"] == "no-store"
    assert "recorded in the audit log" in html
    (event,) = audit_events("endpoint.reveal")
    assert event.object_id == str(endpoint.id) and event.user_id is not None
    assert stored_secret(endpoint) not in event.summary


def test_reveal_with_a_key_that_is_gone_explains_instead_of_failing(client, endpoint):
    from cryptography.fernet import Fernet

    endpoint.secret_encrypted = Fernet(Fernet.generate_key()).encrypt(b"whsec_c2VjcmV0").decode()
    _db.session.commit()
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/reveal", follow_redirects=True)
    assert response.status_code == 200
    html = text_of(response)
    assert "cannot be decrypted" in html and "TOCSIN_ENCRYPTION_KEY" in html
    assert SECRET_PATTERN.findall(html) == []
    assert audit_events("endpoint.reveal") == []


def test_reveal_needs_a_post(client, endpoint):
    assert client.get(f"{ENDPOINTS}/{endpoint.id}/reveal").status_code == 405
    assert audit_events("endpoint.reveal") == []


def test_a_pasted_secret_is_kept(client, owner, receiver):
    mine = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    html = text_of(create_via_form(client, receiver.url(), secret=mine))
    assert stored_secret(endpoint_named()) == mine
    assert mine in html


@pytest.mark.parametrize("secret, words", [
    ("whsec_" + base64.b64encode(b"x" * 16).decode(), "24–64 bytes; this one has 16"),
    ("not-a-standard-secret", "must start with whsec_"),
    ("whsec_@@@not base64@@@", "valid base64"),
])
def test_a_bad_pasted_secret_is_refused(client, owner, receiver, secret, words):
    response = create_via_form(client, receiver.url(), secret=secret)
    assert response.status_code == 200
    assert words in text_of(response)
    assert endpoint_named() is None


def test_rotate_asks_for_confirmation_first(client, endpoint):
    before = stored_secret(endpoint)
    html = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/rotate"))
    assert "Rotate the signing secret" in html and "24 hours" in html
    assert stored_secret(endpoint_named()) == before
    assert audit_events("endpoint.rotate") == []


def test_confirmed_rotation_shows_the_new_secret_and_keeps_the_old_for_a_day(client, endpoint):
    before = stored_secret(endpoint)
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/rotate", follow_redirects=True))
    rotated = endpoint_named()
    after = stored_secret(rotated)
    assert after != before
    assert SECRET_PATTERN.findall(html) == [after]
    assert crypto.decrypt(rotated.previous_secret_encrypted) == before
    assert "previous secret also signs until" in html
    (event,) = audit_events("endpoint.rotate")
    assert before not in event.summary and after not in event.summary


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("headers, words", [
    ("Host: evil.example", "header name Host is reserved"),
    ("Content-Length: 5", "header name Content-Length is reserved"),
    ("webhook-signature: v1,forged", "header name webhook-signature is reserved"),
    ("X-Tocsin-Event: alert.fired", "header name X-Tocsin-Event is reserved"),
    ("Bad Name: value", "header name &#39;Bad Name&#39; is not valid"),
    ("no colon here", "line 1 is not “Name: value”"),
    ("X-Empty:", "header X-Empty has no value"),
    ("X-Twice: a\nx-twice: b", "header x-twice is listed twice"),
])
def test_bad_headers_are_refused_with_a_specific_error(client, owner, receiver, headers, words):
    response = create_via_form(client, receiver.url(), headers=headers)
    assert words in text_of(response)
    assert endpoint_named() is None


@pytest.mark.parametrize("timeout", ["0", "301", "-1", "ten"])
def test_timeout_outside_one_to_three_hundred_seconds_is_refused(client, owner, receiver, timeout):
    html = text_of(create_via_form(client, receiver.url(), timeout_seconds=timeout))
    assert 'class="error"' in html
    assert endpoint_named() is None


@pytest.mark.parametrize("timeout", ["1", "300"])
def test_timeout_bounds_are_accepted(client, owner, receiver, timeout):
    create_via_form(client, receiver.url(), timeout_seconds=timeout)
    assert endpoint_named().timeout_seconds == int(timeout)


def test_missing_name_and_url_are_form_errors(client, owner):
    html = text_of(client.post(f"{ENDPOINTS}/new", data=endpoint_form("", name="")))
    assert html.count('class="error"') >= 2
    assert endpoint_named() is None


def test_a_url_with_user_info_is_refused(client, owner, receiver):
    url = receiver.url().replace("http://", "http://user:pass@")
    html = text_of(create_via_form(client, url))
    assert "URLs with a user name or password are not allowed" in html
    assert endpoint_named() is None


TEMPLATE = '{"text": {{ alert.message|tojson }}, "job": {{ job.slug|tojson }}}'


def test_preview_renders_the_template_against_a_sample_alert_without_saving(client, owner, receiver):
    response = create_via_form(client, receiver.url(), format="template", template=TEMPLATE, preview="Preview")
    html = text_of(response)
    assert "Preview against a sample alert" in html
    assert "Test alert from Tocsin: billing-nightly failed" in html and "billing-nightly" in html
    assert endpoint_named() is None and receiver.requests == []


def test_preview_of_the_slack_format_shows_its_body(client, owner, receiver):
    html = text_of(create_via_form(client, receiver.url(), format="slack", preview="Preview"))
    assert "&#34;blocks&#34;" in html or '"blocks"' in html


@pytest.mark.parametrize("template, words", [
    ("{{ alert.message ", "template error"),
    ("{{ alert.message|no_such_filter }}", "no_such_filter"),
    ("{{ alert.__class__.__mro__ }}", "template error"),
])
def test_a_template_that_fails_to_render_is_a_form_error(client, owner, receiver, template, words):
    html = text_of(create_via_form(client, receiver.url(), format="template", template=template))
    assert words in html
    assert endpoint_named() is None


def test_a_broken_template_fails_preview_with_the_error_on_the_field(client, owner, receiver):
    html = text_of(create_via_form(client, receiver.url(), format="template", template="{% for %}",
                                   preview="Preview"))
    assert "template error" in html and "Preview against a sample alert" not in html


def test_template_format_without_a_template_is_refused(client, owner, receiver):
    html = text_of(create_via_form(client, receiver.url(), format="template", template=""))
    assert "The template format needs a template." in html
    assert endpoint_named() is None


# --- edit --------------------------------------------------------------------------------------


def test_edit_form_shows_header_names_but_never_their_values(client, endpoint):
    html = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/edit"))
    assert "Authorization:" in html and HEADER_VALUE not in html
    assert stored_secret(endpoint) not in html


def test_edit_saves_changes_and_audits_which_fields_changed(client, endpoint, receiver):
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", follow_redirects=True, data=endpoint_form(
        receiver.url(), name="Ops hook v2", timeout_seconds="20", headers="Authorization:"))
    assert "Saved: changed name, timeout_seconds." in text_of(response)
    edited = endpoint_named("Ops hook v2")
    assert edited.timeout_seconds == 20
    assert crypto.decrypt(edited.headers_encrypted["Authorization"]) == HEADER_VALUE  # blank value keeps it
    (event,) = audit_events("endpoint.update")
    assert "name" in event.summary and "timeout_seconds" in event.summary and "url" not in event.summary


def test_changing_a_header_value_is_audited_without_the_value(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit",
                data=endpoint_form(receiver.url(), headers="Authorization: Bearer brand-new-value"))
    assert crypto.decrypt(endpoint_named().headers_encrypted["Authorization"]) == "Bearer brand-new-value"
    (event,) = audit_events("endpoint.update")
    assert "headers" in event.summary
    assert "brand-new-value" not in event.summary and HEADER_VALUE not in event.summary


def test_removing_a_header_line_removes_the_header(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(receiver.url(), headers=""))
    assert endpoint_named().headers_encrypted == {}


def test_saving_without_changes_records_nothing(client, endpoint, receiver):
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", follow_redirects=True,
                           data=endpoint_form(receiver.url(), headers="Authorization:"))
    assert "Nothing changed." in text_of(response)
    assert audit_events("endpoint.update") == []


def test_edit_refuses_a_reserved_header_and_changes_nothing(client, endpoint, receiver):
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/edit",
                               data=endpoint_form(receiver.url(), name="Renamed", headers="Host: x")))
    assert "header name Host is reserved" in html
    assert endpoint_named("Renamed") is None


# --- enable / disable and health ---------------------------------------------------------------


def test_disable_then_enable_is_shown_and_audited(client, endpoint):
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/disable", follow_redirects=True))
    assert 'class="badge disabled"' in html and "Disabled by a user." in html
    assert not endpoint_named().is_active
    row = row_of(text_of(client.get(ENDPOINTS)), endpoint.id)
    assert 'class="badge disabled"' in row and "Disabled by a user." in row
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/enable", follow_redirects=True))
    assert 'class="badge new"' in html  # enabled, and still never sent anything
    enabled = endpoint_named()
    assert enabled.is_active and enabled.disabled_reason is None
    assert [event.action for event in audit_events()][-2:] == ["endpoint.disable", "endpoint.enable"]


def test_endpoint_disabled_by_the_engine_shows_its_reason(client, endpoint):
    endpoint.is_active = False
    endpoint.disabled_reason = "Disabled after 3 days of failed deliveries (last: HTTP 500)."
    _db.session.commit()
    row = row_of(text_of(client.get(ENDPOINTS)), endpoint.id)
    assert 'class="badge disabled"' in row and "3 days of failed deliveries" in row
    assert "3 days of failed deliveries" in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))


def test_health_is_failing_when_the_latest_attempts_failed(client, endpoint, receiver):
    for _ in range(3):
        receiver.respond(500)
        client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    assert 'class="badge failing"' in row_of(text_of(client.get(ENDPOINTS)), endpoint.id)
    assert 'class="badge failing"' in text_of(client.get(f"{ENDPOINTS}/{endpoint.id}"))
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")  # the receiver answers 200 again
    assert 'class="badge healthy"' in row_of(text_of(client.get(ENDPOINTS)), endpoint.id)


def test_send_test_alert_works_on_a_disabled_endpoint(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/disable")
    html = text_of(client.post(f"{ENDPOINTS}/{endpoint.id}/test", follow_redirects=True))
    assert '<span class="http-status">200</span>' in html
    assert len(receiver.wait_for(1)) == 1


# --- delete ------------------------------------------------------------------------------------


def test_delete_confirmation_lists_the_rules_that_use_the_endpoint(client, endpoint, receiver):
    create_via_form(client, receiver.url(), name="Backup hook")
    backup = endpoint_named("Backup hook")
    saved_rule(endpoint.workspace_id, "Only ops", endpoints=[endpoint])
    saved_rule(endpoint.workspace_id, "Ops and backup", endpoints=[endpoint, backup])
    saved_rule(backup.workspace_id, "Backup only", endpoints=[backup])
    html = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/delete"))
    listed = re.search(r'<ul class="rules-using">(.*?)</ul>', html, re.S).group(1)
    assert "Only ops" in listed and "Ops and backup" in listed and "Backup only" not in listed
    assert re.search(r"Only ops — <strong>left with no endpoint", listed)
    assert "Ops and backup — " not in listed
    assert endpoint_named().deleted_at is None  # the GET only asks


def test_delete_removes_the_endpoint_from_its_rules_and_the_rules_page_shows_it(client, endpoint):
    rule = saved_rule(endpoint.workspace_id, endpoints=[endpoint])
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/delete", follow_redirects=True)
    html = text_of(response)
    assert response.request.path == ENDPOINTS
    assert "now have no endpoint" in html and "Nightly failures" in html
    _db.session.expire_all()
    assert _db.session.get(Rule, rule.id).endpoints == []
    rules_html = text_of(client.get("/settings/alerts/rules"))
    assert re.search(rf'data-rule-id="{rule.id}">.*?no endpoint', rules_html, re.S)
    event = audit_events("endpoint.delete")[0]
    assert "Nightly failures" in event.summary


def test_deleted_endpoint_leaves_the_list_but_its_delivery_history_stays_readable(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/test")
    delivery_id = _db.session.scalar(sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint.id))
    client.post(f"{ENDPOINTS}/{endpoint.id}/delete")
    assert f'data-endpoint-id="{endpoint.id}"' not in text_of(client.get(ENDPOINTS))
    assert client.get(f"{ENDPOINTS}/{endpoint.id}").status_code == 404
    assert client.post(f"{ENDPOINTS}/{endpoint.id}/test").status_code == 404
    assert endpoint_named().deleted_at is not None  # soft: the row stays
    delivery_page = client.get(f"/settings/alerts/deliveries/{delivery_id}")
    assert delivery_page.status_code == 200
    assert "Ops hook" in text_of(delivery_page) and "(deleted)" in text_of(delivery_page)


# --- audit -------------------------------------------------------------------------------------


def test_every_change_is_audited_and_no_audit_event_holds_a_secret(client, endpoint, receiver):
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(receiver.url(), name="Renamed",
                                                                       headers="Authorization:"))
    first_secret = stored_secret(endpoint_named("Renamed"))
    client.post(f"{ENDPOINTS}/{endpoint.id}/reveal")
    client.post(f"{ENDPOINTS}/{endpoint.id}/rotate")
    client.post(f"{ENDPOINTS}/{endpoint.id}/disable")
    client.post(f"{ENDPOINTS}/{endpoint.id}/enable")
    client.post(f"{ENDPOINTS}/{endpoint.id}/delete")
    events = audit_events()
    assert [event.action for event in events] == [
        "endpoint.create", "endpoint.update", "endpoint.reveal_secret", "endpoint.rotate_secret",
        "endpoint.disable", "endpoint.enable", "endpoint.delete"]
    assert {event.object_id for event in events} == {str(endpoint.id)}
    assert all(event.user_id is not None and event.client_ip for event in events)
    secrets = {first_secret, stored_secret(endpoint_named("Renamed")), HEADER_VALUE}
    for event in events:
        assert not any(secret in event.summary for secret in secrets)
    audit_page = text_of(client.get("/settings/audit-log"))
    assert not any(secret in audit_page for secret in secrets)
