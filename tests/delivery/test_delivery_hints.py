"""A hint per kind of failure (services/delivery_hints.py), classified from what the real send
path produces: each case POSTs through `outbound.post` to a loopback receiver, a closed port, a
name that does not resolve or a blocked address, and the hint is asked of its error, status and
outcome. The response headers it records are capped and masked (outbound/http.py)."""
import socket

import pytest

from webapp.services import outbound
from webapp.services.delivery_hints import failure_hint, failure_kind
from webapp.services.outbound import http


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hint_after_post(url: str, timeout: float = 2.0, **context) -> tuple[str | None, object]:
    result = outbound.post(url, b"{}", {"content-type": "application/json"}, timeout)
    return failure_hint(result.error, result.status, outcome=result.outcome, **context), result


def test_refused_connection_asks_whether_the_receiver_is_running(app):
    hint, result = hint_after_post(f"http://127.0.0.1:{closed_port()}/hook")
    assert result.error == "connection refused"
    assert hint.startswith("Is the receiver running and reachable from the Tocsin host?")


def test_a_name_that_does_not_resolve_points_at_dns(app, monkeypatch):
    monkeypatch.setattr(outbound.targets, "resolve_host", lambda host, port: [])
    hint, result = hint_after_post("http://hooks.invalid/hook")
    assert "does not resolve" in result.error and "does not resolve from the Tocsin host" in hint


def test_a_blocked_address_names_tocsin_allowed_networks(app):
    app.config["TOCSIN_ALLOWED_NETWORKS"] = ""
    hint, result = hint_after_post("http://127.0.0.1:9/hook")
    assert result.outcome == "blocked" and "TOCSIN_ALLOWED_NETWORKS" in hint


def test_https_to_a_plain_http_port_is_a_tls_hint(app, receiver):
    hint, result = hint_after_post(f"https://127.0.0.1:{receiver.port}/hook")
    assert result.outcome == "tls" and "TLS handshake failed" in hint


def test_a_timeout_names_the_endpoints_timeout(app, receiver):
    receiver.respond(200, delay=2)
    hint, result = hint_after_post(receiver.url(), timeout=0.5, timeout_seconds=1)
    assert result.outcome == "timeout" and "the endpoint's timeout (1 s)" in hint


@pytest.mark.parametrize(("status", "headers", "words"), [
    (401, {}, "current signing secret"),
    (403, {}, "current signing secret"),
    (429, {"Retry-After": "30"}, "(it asked for 30 s)"),
    (502, {}, "tries again with back-off"),
    (400, {}, "payload format"),
    (301, {"Location": "https://elsewhere.example/"}, "never follows redirects"),
    (410, {}, "Tocsin disabled this endpoint because the receiver answered 410 Gone"),
    (404, {}, "Tocsin disabled this endpoint because the receiver answered 404 Not Found"),
])
def test_each_http_answer_has_its_hint(app, receiver, status, headers, words):
    receiver.respond(status, headers=headers)
    result = outbound.post(receiver.url(), b"{}", {}, 2.0)
    hint = failure_hint(result.error, result.status, outcome=result.outcome,
                        retry_after=result.response_headers.get("Retry-After"))
    assert result.status == status and words in hint


def test_a_test_send_is_told_it_is_not_retried_and_that_404_would_disable():
    assert "A test send is not retried" in failure_hint("HTTP 500 Internal Server Error", 500, is_test=True)
    assert "For a real alert Tocsin would disable" in failure_hint("HTTP 404 Not Found", 404, is_test=True)


def test_a_deliverys_last_error_is_classified_from_its_text():
    assert failure_kind("gave up after 8 attempts; last: connection refused", None) == "refused"
    assert failure_kind("gave up after 3 attempts; last: timed out after 5 s", None) == "timeout"
    assert failure_kind("endpoint disabled: disabled after 410 Gone from http://h/••••", None) == "endpoint_disabled"
    assert failure_kind("TLS error: certificate verify failed: self-signed certificate", None) == "certificate"


def test_success_and_nothing_have_no_hint():
    assert failure_hint(None, 200, outcome="success") is None
    assert failure_hint(None, None) is None


def test_response_headers_are_capped_and_credentials_masked():
    many = [(f"X-Header-{index}", "v" * 1000) for index in range(100)]
    kept = http.recorded_response_headers([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                           ("X-Session-Token", "tok-123"), *many])
    assert kept["Set-Cookie"] == "••••••, ••••••" and kept["X-Session-Token"] == "••••••"
    assert len(kept) <= http.RESPONSE_HEADER_COUNT
    assert sum(len(name) + len(value) for name, value in kept.items()) <= http.RESPONSE_HEADER_TOTAL
    assert all(len(value) <= http.RESPONSE_HEADER_VALUE + 1 for value in kept.values())
