"""examples/receivers/, the receivers docs/alerts.md points users to, must keep working: each,
started as a user would start it (secret from the environment), accepts Tocsin's real deliveries
and answers 401 to tampered, unsigned and replayed requests — the timestamped one refuses a
captured alert replayed more than 5 minutes later."""
import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.signing.test_hex_schemes import PASTED
from tests.support.live_server import LiveServer
from tests.support.signing import NODE_DIR, create_endpoint, fire_alert
from webapp.services.delivery import pool
from webapp.services.signing import standard_webhooks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "receivers"
BODY = b'{"type":"alert.test","timestamp":"2026-11-24T09:00:00Z","data":{"alert":{"message":"x"}}}'


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def load_example(monkeypatch):
    """Load examples/receivers/<name>.py with the given environment and serve it on 127.0.0.1."""
    servers = []

    def load(name: str, **environment):
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        spec = importlib.util.spec_from_file_location(f"tocsin_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        servers.append(LiveServer(module.app).start())
        return module, servers[-1].url + "/hooks/tocsin"

    yield load
    for server in servers:
        server.stop()


def send_test(api, url, **fields) -> dict:
    endpoint = api.post("/endpoints", json={"name": "Example", "url": url, **fields})
    assert endpoint.status_code == 201, endpoint.json
    outcome = api.post(f"/endpoints/{endpoint.json['id']}/test").json
    return {**outcome, "endpoint": endpoint.json}


def _signed(secret, body, message_id="msg_example", timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "content-type": "application/json",
            "webhook-signature": standard_webhooks.signature_header([secret], message_id, timestamp, body)}


# --- Standard Webhooks, Python ------------------------------------------------------------------


def test_python_standard_webhooks_example_accepts_a_test_alert_sent_by_tocsin(api, load_example):
    secret = standard_webhooks.generate_secret()
    _, url = load_example("standard_webhooks", TOCSIN_WEBHOOK_SECRET=secret)
    outcome = send_test(api, url, secret=secret)
    assert (outcome["outcome"], outcome["http_status"]) == ("success", 200), outcome
    assert '"ok":true' in outcome["response_excerpt"].replace(" ", "")


def test_python_standard_webhooks_example_refuses_tampered_late_or_unsigned_alerts(load_example):
    secret = standard_webhooks.generate_secret()
    module, _ = load_example("standard_webhooks", TOCSIN_WEBHOOK_SECRET=secret)
    client = module.app.test_client()
    assert client.post("/hooks/tocsin", data=BODY, headers=_signed(secret, BODY)).status_code == 200
    assert client.post("/hooks/tocsin", data=BODY, headers=_signed(secret, BODY)).json["duplicate"] is True
    tampered = BODY.replace(b'"x"', b'"y"')
    assert client.post("/hooks/tocsin", data=tampered, headers=_signed(secret, BODY, "msg_2")).status_code == 401
    old = _signed(secret, BODY, "msg_3", timestamp=int(time.time()) - 600)
    assert client.post("/hooks/tocsin", data=BODY, headers=old).status_code == 401
    other = _signed(standard_webhooks.generate_secret(), BODY, "msg_4")
    assert client.post("/hooks/tocsin", data=BODY, headers=other).status_code == 401
    assert client.post("/hooks/tocsin", data=BODY, headers={"content-type": "application/json"}).status_code == 401
    malformed = {**_signed(secret, BODY, "msg_5"), "webhook-signature": "garbage"}
    assert client.post("/hooks/tocsin", data=BODY, headers=malformed).status_code == 401


# --- Standard Webhooks, Node.js -----------------------------------------------------------------


@pytest.fixture
def node_example():
    """examples/receivers/standard_webhooks.js run by node on a free port, with its secret."""
    assert (NODE_DIR / "node_modules" / "standardwebhooks").is_dir(), "run scripts/ensure-node-packages.sh"
    secret = standard_webhooks.generate_secret()
    process = subprocess.Popen(
        ["node", str(EXAMPLES / "standard_webhooks.js")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TOCSIN_WEBHOOK_SECRET": secret, "PORT": "0", "NODE_PATH": str(NODE_DIR / "node_modules")})
    line = process.stdout.readline()
    assert line.startswith("listening on "), (line, process.stderr.read() if process.poll() is not None else "")
    yield secret, f"http://127.0.0.1:{int(line.split()[-1])}/hooks/tocsin"
    process.terminate()
    process.wait(10)


def test_node_standard_webhooks_example_accepts_real_alerts_and_refuses_forgeries(api, node_example):
    secret, url = node_example
    outcome = send_test(api, url, secret=secret)
    assert (outcome["outcome"], outcome["http_status"]) == ("success", 200), outcome
    assert json.loads(outcome["response_excerpt"]) == {"ok": True, "duplicate": False}

    assert requests.post(url, data=BODY, headers=_signed(secret, BODY, "msg_n1"), timeout=10).status_code == 200
    assert requests.post(url, data=BODY, headers=_signed(secret, BODY, "msg_n1"), timeout=10).json()["duplicate"]
    tampered = BODY.replace(b'"x"', b'"y"')
    assert requests.post(url, data=tampered, headers=_signed(secret, BODY, "msg_n2"), timeout=10).status_code == 401
    old = _signed(secret, BODY, "msg_n3", timestamp=int(time.time()) - 600)
    assert requests.post(url, data=BODY, headers=old, timeout=10).status_code == 401
    assert requests.post(url, data=BODY, headers={"content-type": "application/json"}, timeout=10).status_code == 401


# --- hex body HMAC ------------------------------------------------------------------------------


def test_hex_example_accepts_alerts_signed_with_a_pasted_64_hex_secret_and_refuses_others(api, load_example, db):
    module, url = load_example("hmac_hex", TOCSIN_WEBHOOK_SECRET=PASTED, TOCSIN_SIGNATURE_HEADER="X-Hub-Signature-256")
    outcome = send_test(api, url, signature_scheme="hmac-sha256-hex", signature_header="X-Hub-Signature-256",
                        secret=PASTED)
    assert (outcome["outcome"], outcome["http_status"]) == ("success", 200), outcome

    client = module.app.test_client()
    forged = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert client.post("/hooks/tocsin", data=BODY, headers=forged).status_code == 401
    assert client.post("/hooks/tocsin", data=BODY).status_code == 401
    other = send_test(api, url, signature_scheme="hmac-sha256-hex", signature_header="X-Hub-Signature-256")
    assert other["http_status"] == 401, other  # another (generated) secret


# --- timestamped hex HMAC -----------------------------------------------------------------------


def test_timestamped_example_accepts_a_real_alert_and_refuses_it_replayed_5_minutes_later(api, load_example, receiver):
    module, url = load_example("timestamped_hmac", TOCSIN_WEBHOOK_SECRET=PASTED, TOCSIN_HEADER_PREFIX="X-CueAPI-")
    fields = {"signature_scheme": "timestamped-hmac-hex", "signature_header_prefix": "X-CueAPI-", "secret": PASTED}
    outcome = send_test(api, url, **fields)
    assert (outcome["outcome"], outcome["http_status"]) == ("success", 200), outcome

    # A real alert, captured on its way (as an attacker on the path would), then replayed to the example.
    endpoint = create_endpoint(api, receiver, **fields)
    [captured] = fire_alert(api, receiver, [endpoint["id"]])
    client = module.app.test_client()
    assert client.post("/hooks/tocsin", data=captured.body, headers=captured.headers).status_code == 200
    real_time = time.time
    module.time = SimpleNamespace(time=lambda: real_time() + 5 * 60 + 10)  # the example's clock, 5 min later
    replayed = client.post("/hooks/tocsin", data=captured.body, headers=captured.headers)
    assert replayed.status_code == 401 and "more than 5 minutes" in replayed.json["error"]
    module.time = time
    tampered = captured.body.replace(b"run_failed", b"run_passed")
    assert client.post("/hooks/tocsin", data=tampered, headers=captured.headers).status_code == 401
    assert client.post("/hooks/tocsin", data=captured.body).status_code == 401
