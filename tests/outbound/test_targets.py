"""The SSRF guard (services/outbound/targets.py): targets refused at save through the form and the API,
checked again at send time (DNS rebinding), redirects never followed, the connection pinned to
the checked address, and TOCSIN_ALLOWED_NETWORKS allowing exactly what it lists.

These tests run with TOCSIN_ALLOWED_NETWORKS empty (production's default); the few that must
reach the loopback receiver set it for themselves. Name resolution goes through a fake
`outbound.resolve_host`, so no test depends on (or sends anything to) real DNS."""
import html
import re
import socket

import pytest
import sqlalchemy as sa

from tests.support.accounts import ApiClient, AuthActions, create_api_key_via_page
from tests.support.app import make_app
from webapp.extensions import db as _db
from webapp.models import Delivery, DeliveryAttempt, Endpoint
from webapp.services import outbound

PUBLIC = "93.184.216.34"
LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def app_config():
    return {"TOCSIN_ALLOWED_NETWORKS": ""}


class FakeResolver:
    """`outbound.resolve_host` from a table; an answer may be a list of lists (one per call)."""

    def __init__(self, table: dict):
        self.table, self.calls = table, []

    def __call__(self, host, port):
        self.calls.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer


@pytest.fixture
def resolver(monkeypatch):
    fake = FakeResolver({
        "example.com": [PUBLIC],
        "hooks.example.test": ["127.0.0.1"],
        "mixed.example.test": [PUBLIC, "2606:2800:220:1::1", "10.20.30.40"],
        "lan.example.test": ["192.168.50.7"],
    })
    monkeypatch.setattr(outbound.targets, "resolve_host", fake)
    return fake


LONG_URL = "https://example.com/" + "a" * 2048

# (id, url, words the user is shown, in the form and in the API's fields.url)
REFUSED = [
    ("loopback", "http://127.0.0.1:8080/hook", "resolves to 127.0.0.1, a loopback address"),
    ("ipv6-loopback", "http://[::1]/hook", "resolves to ::1, a loopback address"),
    ("private-10", "http://10.0.0.5/hook", "resolves to 10.0.0.5, a private address"),
    ("private-172.16", "http://172.16.0.1/hook", "resolves to 172.16.0.1, a private address"),
    ("private-172.31", "https://172.31.255.254/hook", "resolves to 172.31.255.254, a private address"),
    ("private-192.168", "http://192.168.1.1/hook", "resolves to 192.168.1.1, a private address"),
    ("cloud-metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254, the cloud metadata address"),
    ("link-local", "http://169.254.10.1/hook", "resolves to 169.254.10.1, a link-local address"),
    ("cgnat", "http://100.64.0.1/hook", "resolves to 100.64.0.1, a carrier-grade NAT"),
    ("unspecified", "http://0.0.0.0/hook", "resolves to 0.0.0.0, an unspecified address"),
    ("multicast", "http://224.0.0.1/hook", "resolves to 224.0.0.1, a multicast address"),
    ("reserved", "http://240.0.0.1/hook", "resolves to 240.0.0.1, a reserved address"),
    ("broadcast", "http://255.255.255.255/hook", "resolves to 255.255.255.255, a broadcast address"),
    ("ipv4-mapped-loopback", "http://[::ffff:127.0.0.1]/hook", "a loopback address (IPv4-mapped 127.0.0.1)"),
    ("ipv4-mapped-private", "http://[::ffff:10.0.0.1]/hook", "a private address (IPv4-mapped 10.0.0.1)"),
    ("unique-local-fc00", "http://[fc00::1]/hook", "resolves to fc00::1, a private address"),
    ("unique-local-fd", "http://[fd12:3456::1]/hook", "resolves to fd12:3456::1, a private address"),
    ("ipv6-link-local", "http://[fe80::1]/hook", "resolves to fe80::1, a link-local address"),
    ("decimal-number", "http://2130706433/hook", "resolves to 127.0.0.1, a loopback address"),
    ("hex-dotted", "http://0x7f.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ("octal-number", "http://017700000001/hook", "resolves to 127.0.0.1, a loopback address"),
    ("short-dotted", "http://127.1/hook", "resolves to 127.0.0.1, a loopback address"),
    ("zero", "http://0/hook", "resolves to 0.0.0.0, an unspecified address"),
    ("ftp-scheme", "ftp://example.com/hook", "scheme ftp is not allowed: use http or https"),
    ("file-scheme", "file:///etc/passwd", "scheme file is not allowed: use http or https"),
    ("user-info", "http://user:pass@example.com/hook", "URLs with a user name or password are not allowed"),
    ("one-private-answer", "https://mixed.example.test/hook", "resolves to 10.20.30.40, a private address"),
    ("too-long", LONG_URL, "longer than 2048 characters"),
]


@pytest.fixture(scope="module")
def table_app(tmp_path_factory):
    """One app, user and API key for the whole refusal table: a refused save writes nothing, so
    the cases cannot affect each other, and signing up once keeps the table fast."""
    app = make_app(tmp_path_factory.mktemp("ssrf-table"), TOCSIN_ALLOWED_NETWORKS="")
    with app.app_context():
        client = app.test_client()
        AuthActions(client).signup()
        key = create_api_key_via_page(client)
    yield app, client, key
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def table(table_app):
    """(client, api) of the shared app, inside its app context for this test."""
    app, client, key = table_app
    with app.app_context():
        yield client, ApiClient(client, key)
        _db.session.remove()


def _form_errors(response) -> str:
    """The text of every error shown on the endpoint form."""
    return " ".join(html.unescape(error) for error in
                    re.findall(r'<p class="error">(.*?)</p>', response.get_data(as_text=True), re.S))


def _endpoint_count() -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(Endpoint))


@pytest.mark.parametrize("url, words", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_target_is_a_specific_form_error_and_writes_nothing(table, resolver, url, words):
    client, _ = table
    response = client.post("/settings/alerts/endpoints/new", data={
        "name": "Target", "url": url, "format": "json", "timeout_seconds": "10"})
    assert response.status_code == 200
    errors = _form_errors(response)
    if url == LONG_URL:  # the form's own length check answers first, with the same limit
        assert "2048 characters" in errors
    else:
        assert words in errors
    assert _endpoint_count() == 0


@pytest.mark.parametrize("url, words", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_target_is_a_400_with_fields_url_in_the_api(table, resolver, url, words):
    _, api = table
    response = api.post("/endpoints", json={"name": "Target", "url": url})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert words in error["fields"]["url"]
    assert set(error["fields"]) == {"url"}
    assert _endpoint_count() == 0


def test_refusal_at_save_names_the_policy_and_the_setting(api, resolver):
    message = api.post("/endpoints", json={"name": "x", "url": "http://10.0.0.5/"}).json["error"]["fields"]["url"]
    assert "TOCSIN_ALLOWED_NETWORKS" in message


def test_unresolvable_host_is_refused_at_save(api, resolver):
    response = api.post("/endpoints", json={"name": "x", "url": "https://nowhere.example.test/hook"})
    assert response.status_code == 400
    assert response.json["error"]["fields"]["url"] == "host nowhere.example.test does not resolve"


def test_public_hostname_is_accepted(api, resolver):
    response = api.post("/endpoints", json={"name": "Public", "url": "https://example.com/hooks/tocsin"})
    assert response.status_code == 201, response.json


# --- send time ----------------------------------------------------------------------------------

def _attempts(db) -> list[DeliveryAttempt]:
    return list(db.session.scalars(sa.select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def test_dns_rebinding_to_loopback_at_send_time_never_reaches_the_receiver(api, db, resolver, receiver):
    """Public when saved, 127.0.0.1 when sent: the send-time check refuses before connecting."""
    resolver.table["rebind.example.test"] = [[PUBLIC], ["127.0.0.1"]]
    url = f"http://rebind.example.test:{receiver.port}/hook"
    created = api.post("/endpoints", json={"name": "Rebinder", "url": url})
    assert created.status_code == 201, created.json

    outcome = api.post(f"/endpoints/{created.json['id']}/test").json
    assert outcome["outcome"] == "blocked"
    assert outcome["http_status"] is None
    assert "resolves to 127.0.0.1, a loopback address" in outcome["error"]
    assert receiver.requests == []
    [attempt] = _attempts(db)
    assert attempt.outcome == "blocked"
    assert db.session.get(Delivery, outcome["delivery_id"]).status == "dead"


def test_each_send_resolves_once_and_connects_to_the_checked_address(app, api, resolver, receiver):
    """Pinned: `hooks.example.test` exists only in the fake resolver, so the request can only
    arrive if the socket used the checked address; the Host header keeps the name."""
    app.config["TOCSIN_ALLOWED_NETWORKS"] = LOOPBACK
    url = f"http://hooks.example.test:{receiver.port}/hook"
    endpoint_id = api.post("/endpoints", json={"name": "Pinned", "url": url}).json["id"]
    resolver.calls.clear()

    outcome = api.post(f"/endpoints/{endpoint_id}/test").json
    assert outcome["outcome"] == "success", outcome
    [request] = receiver.wait_for(1)
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert request.path == "/hook"
    assert resolver.calls == ["hooks.example.test"]


def test_blocked_at_send_when_the_allowed_networks_no_longer_cover_the_target(app, api, db, receiver):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = LOOPBACK
    endpoint_id = api.post("/endpoints", json={"name": "Loopback", "url": receiver.url()}).json["id"]
    app.config["TOCSIN_ALLOWED_NETWORKS"] = ""

    outcome = api.post(f"/endpoints/{endpoint_id}/test").json
    assert outcome["outcome"] == "blocked"
    assert outcome["error"].startswith("blocked: resolves to 127.0.0.1, a loopback address")
    assert receiver.requests == []


@pytest.mark.parametrize("location", ["http://127.0.0.1:{port}/internal",
                                      "http://169.254.169.254/latest/meta-data/iam/"])
def test_redirect_is_a_failed_attempt_and_is_never_followed(app, api, db, receiver, location):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = LOOPBACK
    location = location.format(port=receiver.port)
    receiver.respond(302, body=b"moved", headers={"Location": location})
    endpoint_id = api.post("/endpoints", json={"name": "Redirector", "url": receiver.url()}).json["id"]

    outcome = api.post(f"/endpoints/{endpoint_id}/test").json
    assert outcome["outcome"] == "redirect"
    assert outcome["http_status"] == 302
    assert outcome["error"] == f"redirect to {location} not followed"
    assert [request.path for request in receiver.requests] == ["/hook"]
    [attempt] = _attempts(db)
    assert attempt.outcome == "redirect" and location in attempt.error
    assert db.session.get(Delivery, outcome["delivery_id"]).status == "dead"


def test_redirect_shows_its_location_on_the_page(app, api, client, receiver):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = LOOPBACK
    receiver.respond(307, headers={"Location": f"http://127.0.0.1:{receiver.port}/internal"})
    endpoint_id = api.post("/endpoints", json={"name": "Redirector", "url": receiver.url()}).json["id"]

    page = client.post(f"/settings/alerts/endpoints/{endpoint_id}/test", follow_redirects=True)
    text = html.unescape(page.get_data(as_text=True))
    assert f"redirect to http://127.0.0.1:{receiver.port}/internal not followed" in text
    assert "failed (redirect)" in text
    assert [request.path for request in receiver.requests] == ["/hook"]


# --- TOCSIN_ALLOWED_NETWORKS --------------------------------------------------------------------

@pytest.mark.parametrize("url, accepted", [
    ("http://192.168.50.10/hook", True),
    ("http://lan.example.test/hook", True),
    ("http://[::ffff:192.168.50.10]/hook", True),
    ("http://192.168.51.10/hook", False),
    ("http://10.0.0.1/hook", False),
    ("http://127.0.0.1/hook", False),
    ("http://169.254.169.254/", False),
])
def test_allowed_networks_allow_the_listed_lan_and_nothing_else(app, api, resolver, url, accepted):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = "192.168.50.0/24"
    response = api.post("/endpoints", json={"name": "LAN", "url": url})
    assert response.status_code == (201 if accepted else 400), response.json


def test_allowed_networks_accept_several_cidrs_and_ignore_garbage(app, api, resolver):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = "10.1.0.0/16, fd00::/8 not-a-network"
    assert api.post("/endpoints", json={"name": "a", "url": "http://10.1.2.3/"}).status_code == 201
    assert api.post("/endpoints", json={"name": "b", "url": "http://[fd00::5]/"}).status_code == 201
    assert api.post("/endpoints", json={"name": "c", "url": "http://10.2.0.1/"}).status_code == 400


def test_check_target_returns_every_checked_address(app, resolver):
    assert outbound.check_target("https://example.com/x") == [PUBLIC]
    with pytest.raises(outbound.BlockedTarget, match="10.20.30.40"):
        outbound.check_target("https://mixed.example.test/x")

