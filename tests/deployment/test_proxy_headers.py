"""Behind nginx every request comes from 127.0.0.1: with TOCSIN_PROXY_HOPS=1 (docs/deployment.md)
Tocsin takes the client's address and scheme from the proxy's X-Forwarded-* headers, so the log-in
throttle and the audit log see the real client; with the default 0 a client cannot claim another
address by sending those headers itself."""
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from tests.support.app import make_app
from webapp.extensions import db
from webapp.models import AuditEvent

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "tocsin.example.com"}


def signup_seen_from(tmp_path, **config) -> tuple[str, str]:
    """(the client address in the sign-up's audit event, the scheme the app saw)."""
    app = make_app(tmp_path, **config)
    seen = {}

    @app.get("/_scheme")
    def scheme():
        from flask import request
        seen["scheme"] = request.scheme
        return "", 204

    client = app.test_client()
    assert client.post("/signup", headers=FORWARDED,
                       data={"email": "owner@example.com", "password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    client.get("/_scheme", headers=FORWARDED)
    with app.app_context():
        address = db.session.scalar(sa.select(AuditEvent.client_ip).where(AuditEvent.client_ip.is_not(None)))
        db.session.remove()
    return address, seen["scheme"]


def test_with_one_trusted_proxy_the_forwarded_client_address_and_scheme_are_used(tmp_path):
    assert signup_seen_from(tmp_path, TOCSIN_PROXY_HOPS=1) == ("203.0.113.7", "https")


def test_by_default_forwarded_headers_are_ignored(tmp_path):
    assert signup_seen_from(tmp_path) == ("127.0.0.1", "http")
