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
