"""Acting as a team: the owner invites a colleague with a role through the invites page, and the
colleague accepts in their own browser (a new test client)."""
import re

from tests.support.accounts import PASSWORD


def invite_link(client, email: str, role: str = "viewer") -> str:
    """The path (`/invites/<token>`) of a new invite made on the invites page."""
    response = client.post("/settings/invites", data={"email": email, "role": role}, follow_redirects=True)
    html = response.get_data(as_text=True)
    shown = re.search(r'id="new-invite-link">http://tocsin\.test(/invites/[A-Za-z0-9_-]{40,})<', html)
    assert shown is not None, f"the invite link was not shown:\n{html[:3000]}"
    return shown.group(1)


def join(app, inviter, email: str, role: str = "viewer"):
    """A new browser, signed up from an invite of `inviter` with `role` and logged in."""
    browser = app.test_client()
    path = invite_link(inviter, email, role)
    response = browser.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return browser


def logged_in(app, email: str, password: str = PASSWORD):
    browser = app.test_client()
    assert browser.post("/login", data={"email": email, "password": password}).status_code == 302
    return browser
