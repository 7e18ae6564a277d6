"""The password rule in view before the first submit, on every page that sets a new password
(sign-up, invite accept): the rule services/accounts.py enforces, linked to the input with
aria-describedby so a screen reader announces it with the field."""
import html as html_module
import re

from tests.accounts.test_invites import invite_via_page
from tests.support.accounts import PASSWORD
from webapp.services.accounts import MIN_PASSWORD_LENGTH, PASSWORD_RULE


def described_by(page: str, input_name: str) -> list[str]:
    """The texts of the elements an input's aria-describedby names, in its order."""
    tag = re.search(rf'<input[^>]*name="{input_name}"[^>]*>', page)
    assert tag, f"no {input_name} input"
    ids = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert ids, f"the {input_name} input describes itself with nothing: {tag.group(0)}"
    texts = []
    for element_id in ids.group(1).split():
        element = re.search(rf'<(\w+)[^>]*\sid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
        assert element, f"aria-describedby names {element_id!r}, which is not in the page"
        texts.append(html_module.unescape(element.group(2)).strip())
    return texts


def test_the_rule_names_the_enforced_minimum():
    assert f"At least {MIN_PASSWORD_LENGTH} characters" in PASSWORD_RULE


def test_the_sign_up_page_shows_the_rule_linked_to_the_password_field(client):
    page = client.get("/signup").get_data(as_text=True)
    assert described_by(page, "password") == [PASSWORD_RULE]


def test_the_invite_page_shows_the_rule_linked_to_the_password_field(app, auth, client):
    auth.signup()
    app.config["TOCSIN_SIGNUP"] = "invite"
    path = invite_via_page(client)
    page = app.test_client().get(path).get_data(as_text=True)
    assert "Join" in page
    assert described_by(page, "password") == [PASSWORD_RULE]


def test_after_a_refused_password_the_field_is_described_by_its_rule_and_its_error(client):
    response = client.post("/signup", data={"email": "new@example.com", "password": "short", "confirm": "short"})
    texts = described_by(response.get_data(as_text=True), "password")
    assert texts == [PASSWORD_RULE, f"The password must be at least {MIN_PASSWORD_LENGTH} characters."]


def test_the_sign_up_still_works_with_a_password_that_follows_the_rule(auth):
    assert len(PASSWORD) >= MIN_PASSWORD_LENGTH
    assert auth.signup().status_code == 302
