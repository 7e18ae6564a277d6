"""examples/receiver.py, the receiver docs/alerts.md points users to, must keep working: it
accepts Tocsin's signed test alert and refuses tampered, replayed-late and unsigned requests."""
import importlib.util
import time
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer
from webapp.services.signing import standard_webhooks

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "receiver.py"


@pytest.fixture
def secret():
    return standard_webhooks.generate_secret()


@pytest.fixture
def example(monkeypatch, secret):
    """The example app, loaded as a user would run it (its secret from the environment)."""
    monkeypatch.setenv("TOCSIN_WEBHOOK_SECRET", secret)
    spec = importlib.util.spec_from_file_location("tocsin_example_receiver", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = LiveServer(module.app).start()
    yield server, module.app.test_client()
    server.stop()


def test_example_receiver_accepts_a_test_alert_sent_by_tocsin(api, example, secret):
    server, _ = example
    created = api.post("/endpoints", json={"name": "Example", "url": server.url + "/hooks/tocsin", "secret": secret})
    assert created.status_code == 201, created.json

    outcome = api.post(f"/endpoints/{created.json['id']}/test").json
    assert outcome["outcome"] == "success", outcome
    assert outcome["http_status"] == 200
    assert '"ok":true' in outcome["response_excerpt"].replace(" ", "")


def _signed(secret, body, message_id="msg_example", timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "content-type": "application/json",
            "webhook-signature": standard_webhooks.signature_header([secret], message_id, timestamp, body)}


BODY = b'{"type":"alert.test","timestamp":"2026-11-24T09:00:00Z","data":{"alert":{"message":"x"}}}'


def test_example_receiver_accepts_a_signed_alert_once_and_refuses_tampered_late_or_unsigned_ones(example, secret):
    _, client = example
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
