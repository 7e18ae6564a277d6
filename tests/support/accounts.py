"""Acting as a user: sign up and log in through the real pages (flaskr's AuthActions), make an
API key through the API-keys page, and call /api/v1 with it."""
import re

PASSWORD = "correct horse battery"


class AuthActions:
    """Sign up, log in and log out through the real pages (flaskr's AuthActions)."""

    def __init__(self, client):
        self.client = client

    def signup(self, email="owner@example.com", password=PASSWORD):
        return self.client.post("/signup", data={"email": email, "password": password, "confirm": password})

    def login(self, email="owner@example.com", password=PASSWORD, remember=False):
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return self.client.post("/login", data=data)

    def logout(self):
        return self.client.post("/logout")


class ApiClient:
    """Calls /api/v1 with a bearer key made through the API-keys page of the logged-in user."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.key}", **(headers or {})}

    def get(self, path, **kwargs):
        return self.client.get("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.client.post("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.client.patch("/api/v1" + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def delete(self, path, **kwargs):
        return self.client.delete("/api/v1" + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


def session_cookie_text(app, client) -> str:
    """The session cookie as anyone holding it could read it: the raw value and its decoded
    contents (Flask signs the cookie but does not encrypt it)."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    contents = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return f"{cookie.value}\n{contents!r}"


def shown_api_key(html: str) -> str:
    """The new key from the box that shows it once. A bare `tk_…` search also matched inside the
    page's random CSRF token now and then (one test in ~3,000), and that key was unknown."""
    shown = re.search(r'id="new-api-key">(tk_[A-Za-z0-9_-]+)<', html)
    assert shown is not None, f"the new API key was not shown:\n{html[:3000]}"
    return shown.group(1)


def create_api_key_via_page(client, name="test key", scope="full") -> str:
    """A key made on the API-keys page; `full` by default, so that tests may call the whole API
    (the page itself proposes `ingest`)."""
    response = client.post("/settings/api-keys", data={"name": name, "scope": scope}, follow_redirects=True)
    return shown_api_key(response.get_data(as_text=True))
