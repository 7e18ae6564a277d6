"""The endpoint form tells every mistake of a submit at once (blueprints/settings/endpoint_forms.py):
the form's own checks, the parsing of headers and delays and the service's rules each put their
error next to its field in one response, the input stays in the form, and nothing is saved."""
import html as html_module
import re

import pytest

from tests.endpoints.test_pages import (
    ENDPOINTS,
    HEADER_VALUE,
    create_via_form,
    endpoint_form,
    endpoint_named,
    text_of,
)
from webapp.services import crypto

FIELD_BLOCK = re.compile(r'<div class="field[^"]*">(.*?)</div>', re.S)


def errors_by_field(page: str) -> dict[str, list[str]]:
    """{field name: the error messages shown inside that field's block} for every field with one."""
    found = {}
    for block in FIELD_BLOCK.findall(page):
        name = re.search(r'name="([^"]+)"', block)
        messages = [html_module.unescape(text) for text in re.findall(r'<p class="error">(.*?)</p>', block, re.S)]
        if name and messages:
            found[name.group(1)] = messages
    return found


def value_of(page: str, name: str) -> str | None:
    """What an input or textarea holds in the page (the user's input kept)."""
    textarea = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page, re.S)
    if textarea:
        return html_module.unescape(textarea.group(1))
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = tag and re.search(r'value="([^"]*)"', tag.group(0))
    return html_module.unescape(value.group(1)) if value else None


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


MISTAKES = {"name": "", "url": "not a url", "retry_policy": "custom", "retry_delays_seconds": "1, soon",
            "timeout_seconds": "0", "headers": "X-Team ops"}
WRONG_FIELDS = {"name", "url", "retry_delays_seconds", "timeout_seconds", "headers"}


def test_one_submit_with_several_mistakes_shows_every_error_next_to_its_field(client, owner):
    response = client.post(f"{ENDPOINTS}/new", data=endpoint_form(**MISTAKES))
    page = text_of(response)
    errors = errors_by_field(page)
    assert response.status_code == 200
    assert set(errors) == WRONG_FIELDS, errors
    assert all(len(messages) == 1 for messages in errors.values()), errors  # one message per field, no echo
    assert "line 1 is not “Name: value”" in errors["headers"][0]
    assert errors["retry_delays_seconds"] == ["each delay must be 1–86,400 seconds"]
    assert endpoint_named("") is None and endpoint_named() is None


def test_the_input_is_kept_after_a_refused_submit(client, owner):
    page = text_of(client.post(f"{ENDPOINTS}/new", data=endpoint_form(
        **{**MISTAKES, "name": "Ops hook", "template": "{{ alert.message }}", "format": "slack"})))
    assert value_of(page, "name") == "Ops hook"
    assert value_of(page, "url") == "not a url"
    assert value_of(page, "retry_delays_seconds") == "1, soon"
    assert value_of(page, "timeout_seconds") == "0"
    assert value_of(page, "headers") == "X-Team ops"
    assert value_of(page, "template") == "{{ alert.message }}"
    assert re.search(r'<option selected value="slack">|<option value="slack" selected>', page)
    assert endpoint_named() is None


def test_a_service_rule_and_a_form_check_are_reported_together(client, owner, receiver):
    """A reserved header (a service rule) and an empty name (the form's check) in one submit."""
    page = text_of(create_via_form(client, receiver.url(), name="", headers="Host: evil.example"))
    errors = errors_by_field(page)
    assert set(errors) == {"name", "headers"}
    assert errors["headers"] == ["header name Host is reserved"]
    assert endpoint_named("") is None


def test_a_valid_submit_still_creates_the_endpoint(client, owner, receiver):
    response = create_via_form(client, receiver.url(), retry_policy="custom", retry_delays_seconds="1, 2, 4",
                               headers="X-Team: ops")
    assert "Endpoint “Ops hook” created." in text_of(response)
    created = endpoint_named()
    assert created.retry_delays_seconds == [1, 2, 4] and created.timeout_seconds == 5
    assert crypto.decrypt(created.headers_encrypted["X-Team"]) == "ops"


def test_the_edit_form_shows_every_error_at_once_and_changes_nothing(client, owner, receiver):
    create_via_form(client, receiver.url(), headers=f"Authorization: {HEADER_VALUE}")
    endpoint = endpoint_named()
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form(**MISTAKES))
    page = text_of(response)
    errors = errors_by_field(page)
    assert response.status_code == 200
    assert set(errors) == WRONG_FIELDS, errors
    assert value_of(page, "url") == "not a url" and value_of(page, "headers") == "X-Team ops"
    unchanged = endpoint_named()
    assert unchanged.timeout_seconds == 5 and unchanged.retry_delays_seconds is None
    assert crypto.decrypt(unchanged.headers_encrypted["Authorization"]) == HEADER_VALUE


def test_a_valid_edit_still_saves(client, owner, receiver):
    create_via_form(client, receiver.url())
    endpoint = endpoint_named()
    response = client.post(f"{ENDPOINTS}/{endpoint.id}/edit", follow_redirects=True,
                           data=endpoint_form("", name="Ops hook v2", timeout_seconds="20"))
    assert "Saved: changed name, timeout_seconds." in text_of(response)
    assert endpoint_named("Ops hook v2").timeout_seconds == 20


def test_the_api_names_every_bad_field_in_one_answer(api, receiver):
    response = api.post("/endpoints", json={"name": "", "url": "not a url", "timeout_seconds": 0,
                                            "retry_delays_seconds": [1, "soon"]})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) >= {"name", "url", "timeout_seconds", "retry_delays_seconds"}
