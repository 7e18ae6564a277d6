"""The endpoint form's template box as a person sees it in headless Chromium: hidden for the default
format, shown when “Custom template” is chosen, hidden again for another format; an endpoint saved
with a template opens its edit page with the box in view."""
import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser

TEMPLATE = '{"text": {{ alert.message|tojson }}}'


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_the_template_box_shows_only_for_the_template_format(live_server, page, receiver):
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/settings/alerts/endpoints/new")
    payload_format = page.get_by_label("Payload format")
    template = page.get_by_label("Template", exact=True)
    expect(payload_format).to_have_value("json")
    expect(template).to_be_hidden()

    payload_format.select_option("template")
    expect(template).to_be_visible()
    template.fill(TEMPLATE)

    payload_format.select_option("slack")
    expect(template).to_be_hidden()

    payload_format.select_option("template")
    expect(template).to_have_value(TEMPLATE)  # hiding it lost nothing
    page.get_by_label("Name").fill("Templated")
    page.get_by_label("URL").fill(receiver.url("/templated"))
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("heading", name="Templated")).to_be_visible()

    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_label("Payload format")).to_have_value("template")
    expect(page.get_by_label("Template", exact=True)).to_be_visible()
    expect(page.get_by_label("Template", exact=True)).to_have_value(TEMPLATE)
    page.get_by_label("Payload format").select_option("json")
    expect(page.get_by_label("Template", exact=True)).to_be_hidden()



def test_a_format_box_with_an_error_stays_in_view_after_switching_to_another_format(live_server, page, receiver):
    """An ntfy access token mistyped, then the JSON format chosen: the refused page shows the token's
    box and its error (the format script alone would hide the box for JSON): the person sees what to fix."""
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/settings/alerts/endpoints/new")
    page.get_by_label("Payload format").select_option("ntfy")
    page.get_by_label("Access token").fill("tk_with a space")
    page.get_by_label("Payload format").select_option("json")
    expect(page.get_by_label("Access token")).to_be_hidden()
    page.get_by_label("Name").fill("Mistyped")
    page.get_by_label("URL").fill(receiver.url("/mistyped"))
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", name="New endpoint")).to_be_visible()
    expect(page.get_by_label("Access token")).to_be_visible()
    expect(page.locator(".field.has-error", has=page.get_by_label("Access token"))).to_contain_text("no spaces")
    expect(page.get_by_label("Template", exact=True)).to_be_hidden()
