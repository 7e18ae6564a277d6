"""The two hex schemes and the shared secret rules, checked against verifiers written from the
issue's words (plain `hmac`), not against Tocsin's own code; and how records mask signatures."""
import hashlib
import hmac
import string

import pytest

from webapp.services import signing
from webapp.services.signing import hmac_hex, none, text_secret, timestamped_hmac

BODY = '{"type":"alert.test","data":{"alert":{"message":"café"}}}'.encode()
PASTED = "7f3a" * 16  # a 64-hex secret a receiver already has


def spec_hex(secret: str, body: bytes) -> str:
    """`sha256=` + lowercase hex of HMAC-SHA256(secret as UTF-8 bytes, raw body)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def spec_timestamped(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>` of HMAC-SHA256(secret as UTF-8, "{timestamp}.{body}")."""
    return "v1=" + hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_registry_has_the_four_schemes_and_standard_webhooks_stays_the_default():
    assert list(signing.SCHEMES) == ["standard-webhooks", "hmac-sha256-hex", "timestamped-hmac-hex", "none"]
    assert signing.scheme().NAME == signing.DEFAULT_SCHEME == "standard-webhooks"


def test_a_generated_hex_secret_is_64_hex_characters():
    secret = text_secret.generate_secret()
    assert len(secret) == 64 and set(secret) <= set(string.hexdigits.lower())
    assert secret != text_secret.generate_secret()
    assert hmac_hex.generate_secret() != timestamped_hmac.generate_secret()


@pytest.mark.parametrize("secret", [PASTED, "x" * 16, "y" * 256, "pass phrase with spaces ok", "clé-secrète-ünïcode"])
def test_a_pasted_secret_of_16_to_256_printable_characters_is_kept_as_it_is(secret):
    assert hmac_hex.validate_secret(f"  {secret}\n") == secret
    assert timestamped_hmac.validate_secret(secret) == secret


@pytest.mark.parametrize("text, message", [
    ("", "16–256 characters; this one has 0"),
    ("x" * 15, "this one has 15"),
    ("x" * 257, "this one has 257"),
    ("sixteen chars\tand a tab", "printable characters only"),
])
def test_a_bad_hex_scheme_secret_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        hmac_hex.validate_secret(text)


def test_none_refuses_a_pasted_secret_and_sends_no_header():
    with pytest.raises(ValueError, match="sends no signature"):
        none.validate_secret(PASTED)
    assert none.headers([PASTED], "msg_1", 1700000000, BODY, signing.SignatureSettings("none")) == {}


def test_hex_signature_matches_the_spec_under_the_endpoint_header_name():
    settings = signing.SignatureSettings(hmac_hex.NAME, header="X-Hub-Signature-256")
    headers = hmac_hex.headers([PASTED], "msg_1", 1700000000, BODY, settings)
    assert headers == {"X-Hub-Signature-256": spec_hex(PASTED, BODY)}
    assert headers["X-Hub-Signature-256"] == headers["X-Hub-Signature-256"].lower()
    default = hmac_hex.headers([PASTED], "msg_1", 1700000000, BODY, signing.SignatureSettings(hmac_hex.NAME))
    assert list(default) == ["X-Webhook-Signature"]


def test_timestamped_signature_matches_the_spec_under_the_endpoint_prefix():
    settings = signing.SignatureSettings(timestamped_hmac.NAME, prefix="X-CueAPI-")
    headers = timestamped_hmac.headers([PASTED], "msg_1", 1700000000, BODY, settings)
    assert headers == {"X-CueAPI-Timestamp": "1700000000",
                       "X-CueAPI-Signature": spec_timestamped(PASTED, 1700000000, BODY)}
    default = timestamped_hmac.headers([PASTED], "msg_1", 1700000000, BODY,
                                       signing.SignatureSettings(timestamped_hmac.NAME))
    assert set(default) == {"X-Tocsin-Timestamp", "X-Tocsin-Signature"}


def test_one_signature_schemes_sign_with_the_new_secret_only_after_a_rotation():
    new, old = text_secret.generate_secret(), text_secret.generate_secret()
    [value] = hmac_hex.headers([new, old], "msg_1", 1, BODY, signing.SignatureSettings(hmac_hex.NAME)).values()
    assert value == spec_hex(new, BODY)
    assert not hmac_hex.SEVERAL_SIGNATURES and not timestamped_hmac.SEVERAL_SIGNATURES
    assert signing.scheme("standard-webhooks").SEVERAL_SIGNATURES


@pytest.mark.parametrize("value, shown", [
    ("v1,abc= v1,def=", "v1,•••• v1,••••"),
    ("sha256=" + "a" * 64, "sha256=••••"),
    ("v1=" + "b" * 64, "v1=••••"),
    ("garbage", "••••"),
])
def test_records_mask_every_scheme_signature(value, shown):
    assert signing.mask_signature(value) == shown
