"""Standard Webhooks signatures, checked with the reference `standardwebhooks` package."""
import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webapp.services.signing import standard_webhooks

BODY = b'{"type":"alert.test","data":{"alert":{"message":"caf\xc3\xa9"}}}'


def headers_for(secrets, message_id="msg_2b1f", timestamp=None, body=BODY):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks.signature_header(secrets, message_id, timestamp, body),
    }


def test_generated_secret_is_whsec_and_32_random_bytes():
    secret = standard_webhooks.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert standard_webhooks.validate_secret(secret) == secret
    assert standard_webhooks.generate_secret() != secret


@pytest.mark.parametrize("length", [24, 48, 64])
def test_pasted_secret_of_24_to_64_bytes_is_accepted(length):
    secret = "whsec_" + base64.b64encode(bytes(range(length))).decode()
    assert standard_webhooks.validate_secret(f"  {secret}\n") == secret


@pytest.mark.parametrize("text, message", [
    ("", "must start with whsec_"),
    ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "must start with whsec_"),
    ("whsec_not base64!!", "valid base64"),
    ("whsec_" + base64.b64encode(b"x" * 16).decode(), "24–64 bytes; this one has 16"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24–64 bytes; this one has 65"),
])
def test_bad_secret_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        standard_webhooks.validate_secret(text)


def test_signature_verifies_with_the_standardwebhooks_package():
    secret = standard_webhooks.generate_secret()
    headers = headers_for([secret])
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["type"] == "alert.test"


def test_signature_covers_the_body():
    secret = standard_webhooks.generate_secret()
    headers = headers_for([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"test", b"tset"), headers)


def test_two_secret_header_verifies_with_either_secret():
    new, old = standard_webhooks.generate_secret(), standard_webhooks.generate_secret()
    headers = headers_for([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_webhooks.generate_secret()).verify(BODY, headers)


def test_signature_is_hmac_of_id_timestamp_and_body():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1700000000, tz=UTC), BODY.decode())
    assert standard_webhooks.signature(secret, "msg_1", 1700000000, BODY) == expected
