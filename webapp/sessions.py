"""The signed-cookie session, left out of the JSON API."""
from flask.sessions import SecureCookieSessionInterface

API_PREFIX = "/api/"


class CookieSessionOutsideApi(SecureCookieSessionInterface):
    """API requests authenticate with a bearer key on every call and never use the cookie
    session: they get Flask's null session (readable, empty; writing to it is an error) and no
    Set-Cookie, which also saves unsigning and signing a cookie on every run report."""

    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)
