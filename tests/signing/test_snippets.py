"""The verification snippets an endpoint's page shows work as shown: copied from the page (Python
run here, Node.js run by `node`), each verifies a real delivery to that endpoint with its real
header names, and refuses a tampered body."""
import html
import re
from types import SimpleNamespace

import pytest

from tests.signing.test_hex_schemes import PASTED
from tests.support.signing import create_endpoint, node_verify, send_test
from webapp.services.delivery import pool

SNIPPET = re.compile(r'<pre class="snippet" data-language="([^"]+)"[^>]*>(.*?)</pre>', re.S)
SCHEMES = {
    "standard-webhooks": {},
    "hmac-sha256-hex": {"signature_header": "X-Hub-Signature-256", "secret": PASTED},
    "timestamped-hmac-hex": {"signature_header_prefix": "X-CueAPI-", "secret": PASTED},
}


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


def page_snippets(client, endpoint_id) -> dict[str, str]:
    page = client.get(f"/settings/alerts/endpoints/{endpoint_id}").get_data(as_text=True)
    return {language: html.unescape(code) for language, code in SNIPPET.findall(page)}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_page_snippets_verify_a_real_delivery(api, client, receiver, tmp_path, scheme):
    endpoint = create_endpoint(api, receiver, signature_scheme=scheme, **SCHEMES[scheme])
    request = send_test(api, endpoint["id"], receiver)
    snippets = page_snippets(client, endpoint["id"])
    assert set(snippets) == {"Python", "Node.js"}
    for name in set(request.headers) - {"webhook-id"}:
        if "signature" in name or "timestamp" in name:
            assert name in snippets["Python"] and name in snippets["Node.js"]  # the real header names
    assert all(len(code.strip().splitlines()) <= 12 for code in snippets.values())

    namespace = {}
    exec(compile(snippets["Python"], f"<{scheme} Python snippet>", "exec"), namespace)
    assert namespace["verify"](endpoint["secret"], request.headers, request.body) is True
    assert namespace["verify"](endpoint["secret"], request.headers, request.body + b" ") is False

    node_file = tmp_path / "snippet.js"
    node_file.write_text(snippets["Node.js"] + "\nmodule.exports = verify;\n")
    assert node_verify(endpoint["secret"], request, node_file) == {"ok": True}
    tampered = SimpleNamespace(headers=request.headers, body=request.body.replace(b"alert.test", b"alert.tset"))
    assert node_verify(endpoint["secret"], tampered, node_file) == {"ok": False}


def test_an_unsigned_endpoint_page_says_no_signature_headers_are_sent(api, client, receiver):
    endpoint = create_endpoint(api, receiver, format="discord", signature_scheme="none")
    page = client.get(f"/settings/alerts/endpoints/{endpoint['id']}").get_data(as_text=True)
    assert "No signature headers are sent" in page
    assert page_snippets(client, endpoint["id"]) == {}
    assert "Reveal secret" not in page and "Rotate secret" not in page
