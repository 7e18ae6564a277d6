"""The browser fixtures work: headless Chromium opens the live server's log-in page."""


def test_browser_opens_login_page(live_server, page):
    page.goto(live_server.url + "/login")
    assert page.get_by_role("heading", name="Log in to Tocsin").is_visible()
