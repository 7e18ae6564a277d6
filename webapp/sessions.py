"""The signed-cookie session, left out of the JSON API, and secrets kept in it for one page."""
import json

from flask import session
from flask.sessions import SecureCookieSessionInterface

from webapp import security
from webapp.services import crypto

API_PREFIX = "/api/"


class CookieSessionOutsideApi(SecureCookieSessionInterface):
    """API requests authenticate with a bearer key on every call and never use the cookie
    session: they get Flask's null session (readable, empty; writing to it is an error) and no
    Set-Cookie, which also saves unsigning and signing a cookie on every run report."""

    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def keep_for_next_page(name: str, value: dict) -> None:
    """Keep `value`, which holds a secret to be shown once (a new API key or signing secret),
    in the session until the next page takes it. Encrypted: the session cookie is signed, not
    encrypted, so anyone holding a copy of it (a proxy's log, a shared browser profile, a
    screenshot of the developer tools) could read a secret kept in clear."""
    session[name] = crypto.encrypt(json.dumps(value))


def take_from_session(name: str, belongs=lambda value: True) -> dict | None:
    """The value `keep_for_next_page` kept under `name`, removed from the session, when
    `belongs(value)` (it is for this page); otherwise None, and it stays for its own page. A
    value that cannot be decrypted (the keys changed meanwhile) is dropped. A page that shows
    one is never cached (`Cache-Control: no-store`)."""
    token = session.get(name)
    if not isinstance(token, str):
        session.pop(name, None)
        return None
    try:
        value = json.loads(crypto.decrypt(token, remember=False))
    except (crypto.DecryptionError, ValueError):
        session.pop(name, None)
        return None
    if not belongs(value):
        return None
    session.pop(name, None)
    security.no_store()
    return value
