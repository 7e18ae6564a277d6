"""The template box of the endpoint form as the server renders it (templates/settings/endpoints/form.html):
hidden unless the format is the template one, so a browser without JavaScript sees it after a submit
with that format; a hidden box still carries its text, so an edit never loses a stored template."""
import re

import pytest

from tests.endpoints.test_pages import ENDPOINTS, create_via_form, endpoint_form, endpoint_named, text_of

TEMPLATE = '{"text": {{ alert.message|tojson }}}'


def template_box(page: str) -> str:
    """The opening tag of the block that holds the template field."""
    match = re.search(r'<div data-for-format="template"[^>]*>', page)
    assert match, "the template field is not in its format block"
    return match.group(0)


def is_hidden(tag: str) -> bool:
    return re.search(r"\shidden(\s|>|=)", tag) is not None


@pytest.fixture
def owner(auth):
    auth.signup()
    return auth


def test_the_new_form_renders_the_template_box_hidden_for_the_default_format(client, owner):
    page = text_of(client.get(f"{ENDPOINTS}/new"))
    assert is_hidden(template_box(page))
    inside = page.split(template_box(page), 1)[1][:800]
    assert '<textarea' in inside and 'name="template"' in inside  # still in the form, and still sent


def test_a_submit_with_the_template_format_shows_the_box_without_javascript(client, owner, receiver):
    page = text_of(create_via_form(client, receiver.url(), format="template", template=""))
    assert not is_hidden(template_box(page))
    assert "The template format needs a template." in page


def test_a_refused_submit_with_the_template_format_keeps_the_box_open_with_its_text(client, owner, receiver):
    page = text_of(create_via_form(client, receiver.url(), name="", format="template", template=TEMPLATE))
    assert not is_hidden(template_box(page))
    assert "{&#34;text&#34;: {{ alert.message|tojson }}}" in page


def test_the_edit_form_of_a_template_endpoint_shows_the_box(client, owner, receiver):
    create_via_form(client, receiver.url(), format="template", template=TEMPLATE)
    page = text_of(client.get(f"{ENDPOINTS}/{endpoint_named().id}/edit"))
    assert not is_hidden(template_box(page))


def test_editing_a_json_endpoint_keeps_a_template_it_holds(client, owner, receiver):
    """Switching from the template format to JSON hides the box but keeps its text, which stays
    harmless (JSON ignores it) and is there again when the template format comes back."""
    create_via_form(client, receiver.url(), format="template", template=TEMPLATE)
    endpoint = endpoint_named()
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form("", format="json", template=TEMPLATE))
    switched = endpoint_named()
    assert switched.format == "json" and switched.template == TEMPLATE
    page = text_of(client.get(f"{ENDPOINTS}/{endpoint.id}/edit"))
    assert is_hidden(template_box(page))
    client.post(f"{ENDPOINTS}/{endpoint.id}/edit", data=endpoint_form("", format="json", template=TEMPLATE,
                                                                      name="Renamed"))
    assert endpoint_named("Renamed").template == TEMPLATE
