'''The verification code an endpoint's page shows: about ten lines in Python and in Node.js for its
scheme, with that endpoint's real header names, so a receiver can be written by copying them.
The tests run each snippet against a real Tocsin delivery.'''
from webapp.services.signing import hmac_hex, timestamped_hmac

PYTHON = {
    "standard-webhooks": '''# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def verify(secret: str, headers, body: bytes) -> bool:
    """headers: the request's headers; body: the raw bytes, before parsing them."""
    try:  # checks webhook-signature, refuses a webhook-timestamp more than 5 minutes off
        Webhook(secret).verify(body, dict(headers), json_parse=False)
        return True
    except (WebhookVerificationError, ValueError):
        return False
''',
    "hmac-sha256-hex": '''import hashlib
import hmac


def verify(secret: str, headers, body: bytes) -> bool:
    """headers: the request's headers; body: the raw bytes, before parsing them."""
    received = headers.get("<signature>", "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received, expected)
''',
    "timestamped-hmac-hex": '''import hashlib
import hmac
import time


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """headers: the request's headers; body: the raw bytes, before parsing them."""
    timestamp = headers.get("<timestamp>", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False  # no timestamp, or more than 5 minutes off: possibly a replay
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("<signature>", ""), expected)
''',
}

NODE = {
    "standard-webhooks": '''// npm install standardwebhooks
const { Webhook } = require("standardwebhooks");

// headers: req.headers; body: the raw body (a Buffer or string), before JSON.parse
function verify(secret, headers, body) {
  try { // checks webhook-signature, refuses a webhook-timestamp more than 5 minutes off
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch (error) {
    return false;
  }
}
''',
    "hmac-sha256-hex": '''const crypto = require("crypto");

// headers: req.headers (lower-case names); body: the raw body Buffer, before JSON.parse
function verify(secret, headers, body) {
  const received = Buffer.from(headers["<signature>"] || "");
  const expected = Buffer.from("sha256=" + crypto.createHmac("sha256", secret).update(body).digest("hex"));
  return received.length === expected.length && crypto.timingSafeEqual(received, expected);
}
''',
    "timestamped-hmac-hex": '''const crypto = require("crypto");

// headers: req.headers (lower-case names); body: the raw body Buffer, before JSON.parse
function verify(secret, headers, body, tolerance = 300) {
  const timestamp = headers["<timestamp>"] || "";
  if (!/^[0-9]+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) return false;
  const signed = Buffer.concat([Buffer.from(timestamp + "."), Buffer.from(body)]);
  const received = Buffer.from(headers["<signature>"] || "");
  const expected = Buffer.from("v1=" + crypto.createHmac("sha256", secret).update(signed).digest("hex"));
  return received.length === expected.length && crypto.timingSafeEqual(received, expected);
}
''',
}


def _names(settings) -> dict[str, str]:
    if settings.scheme == timestamped_hmac.NAME:
        return {"<timestamp>": timestamped_hmac.timestamp_header(settings).lower(),
                "<signature>": timestamped_hmac.signature_header(settings).lower()}
    if settings.scheme == hmac_hex.NAME:
        return {"<signature>": hmac_hex.header_name(settings).lower()}
    return {}


def snippets(settings) -> dict[str, str] | None:
    """{"Python": code, "Node.js": code} for the endpoint's scheme; None when it signs nothing."""
    if settings.scheme not in PYTHON:
        return None
    shown = {}
    for language, code in (("Python", PYTHON[settings.scheme]), ("Node.js", NODE[settings.scheme])):
        for placeholder, name in _names(settings).items():
            code = code.replace(placeholder, name)
        shown[language] = code
    return shown


def sent_headers(settings) -> list[str]:
    """The signature headers an attempt carries, as the endpoint's page lists them (empty for none)."""
    if settings.scheme == hmac_hex.NAME:
        return [f"{hmac_hex.header_name(settings)}: sha256=<hex>"]
    if settings.scheme == timestamped_hmac.NAME:
        return [f"{timestamped_hmac.timestamp_header(settings)}: <unix seconds>",
                f"{timestamped_hmac.signature_header(settings)}: v1=<hex>"]
    if settings.scheme in PYTHON:
        return ["webhook-timestamp: <unix seconds>", "webhook-signature: v1,<base64>"]
    return []
