"""Tocsin with a keyboard alone: Tab to move, Enter to follow a link or press a button, typing
into the focused field. A person who cannot use a mouse creates an endpoint and sends it a test
alert, on a desktop and through the phone-sized Menu button."""
import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser

MAX_TABS = 80  # far more stops than any page has before what the test looks for


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page, locator) -> None:
    """Press Tab until `locator` has the focus (failing if it is never reached)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if has_focus(locator):
            return
    raise AssertionError(f"Tab never reached {locator}")


def tab_and_enter(page, locator) -> None:
    tab_to(page, locator)
    page.keyboard.press("Enter")


def tab_and_type(page, locator, text: str) -> None:
    tab_to(page, locator)
    page.keyboard.type(text)


def create_endpoint_and_send_test(page, receiver) -> None:
    """From the Endpoints page: New endpoint, name and URL, create, Send test alert."""
    tab_and_enter(page, page.get_by_role("link", name="New endpoint"))
    expect(page.get_by_role("heading", name="New endpoint")).to_be_visible()
    tab_and_type(page, page.get_by_label("Name"), "Keyboard receiver")
    tab_and_type(page, page.get_by_label("URL"), receiver.url("/keys"))
    tab_and_enter(page, page.get_by_role("button", name="Create endpoint"))
    expect(page.get_by_role("heading", name="Keyboard receiver")).to_be_visible()
    tab_and_enter(page, page.get_by_role("button", name="Send test alert"))
    outcome = page.locator("#test-outcome")
    expect(outcome.locator(".http-status")).to_have_text("200")
    expect(outcome).to_contain_text("delivered")
    (received,) = receiver.wait_for(1)
    assert received.path == "/keys"


def test_skip_link_then_settings_alerts_create_an_endpoint_and_send_a_test_alert(live_server, page, receiver):
    receiver.respond(200, body="ok")
    sign_up_in_browser(page, live_server.url)

    page.keyboard.press("Tab")  # the first stop on every page skips the navigation
    skip = page.get_by_role("link", name="Skip to content")
    assert has_focus(skip)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    main_navigation = page.get_by_role("navigation", name="Main")
    tab_and_enter(page, main_navigation.get_by_role("link", name="Settings"))
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(main_navigation.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    tab_and_enter(page, page.get_by_role("main").get_by_role("link", name="Endpoints", exact=True))
    tabs = page.get_by_role("navigation", name="Alerts settings")
    expect(tabs.get_by_role("link", name="Endpoints")).to_have_attribute("aria-current", "page")

    create_endpoint_and_send_test(page, receiver)


def test_on_a_phone_the_menu_button_opens_the_navigation_by_keyboard(live_server, page, receiver):
    receiver.respond(200, body="ok")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_up_in_browser(page, live_server.url)

    menu = page.get_by_role("button", name="Menu")
    main_navigation = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(main_navigation).to_be_hidden()
    tab_and_enter(page, menu)
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(main_navigation).to_be_visible()
    page.keyboard.press("Escape")  # closes again, focus back on the button
    expect(main_navigation).to_be_hidden()
    assert has_focus(menu)

    page.keyboard.press("Enter")
    tab_and_enter(page, main_navigation.get_by_role("link", name="Settings"))
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    tab_and_enter(page, page.get_by_role("main").get_by_role("link", name="Endpoints", exact=True))
    create_endpoint_and_send_test(page, receiver)
