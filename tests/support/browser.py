"""Steps that several browser tests share."""
from playwright.sync_api import expect

from tests.support.accounts import PASSWORD


def sign_up_in_browser(page, base_url: str, email: str = "owner@example.com") -> None:
    """Sign up through the real form and wait for the overview it lands on."""
    page.goto(base_url + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


SETTINGS_ALERTS_TABS = ("Endpoints", "Rules", "Delivery history")


def open_settings(page, name: str) -> None:
    """Settings → `name` through the navigation a person clicks: the main navigation's Settings,
    then Settings' own page list (for Endpoints, Rules and Delivery history: Alerts, then its tab)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    if name in SETTINGS_ALERTS_TABS:
        page.get_by_role("navigation", name="Settings").get_by_role("link", name="Alerts").click()
        page.get_by_role("navigation", name="Alerts settings").get_by_role("link", name=name).click()
    else:
        page.get_by_role("navigation", name="Settings").get_by_role("link", name=name).click()
