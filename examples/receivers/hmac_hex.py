"""A small Flask app that receives Tocsin alerts signed with the hex body HMAC scheme
(`hmac-sha256-hex`, GitHub's X-Hub-Signature-256 style) and refuses any it cannot verify.

    pip install -r examples/requirements.txt
    export TOCSIN_WEBHOOK_SECRET=...                     # the endpoint's signing secret
    export TOCSIN_SIGNATURE_HEADER=X-Hub-Signature-256   # the endpoint's signature header (default X-Webhook-Signature)
    flask --app examples/receivers/hmac_hex.py run --port 8000

Point the endpoint at http://<this host>:8000/hooks/tocsin. The header holds `sha256=` + lowercase
hex of HMAC-SHA256(secret as UTF-8, raw body); anything else is answered 401. This scheme signs
no timestamp, so a captured request could be replayed: drop `webhook-id`s already handled, or
prefer the timestamped scheme or Standard Webhooks.
"""
import hashlib
import hmac
import os

from flask import Flask, abort, request

app = Flask(__name__)
SECRET = os.environ["TOCSIN_WEBHOOK_SECRET"].encode("utf-8")
HEADER = os.environ.get("TOCSIN_SIGNATURE_HEADER", "X-Webhook-Signature")


def is_from_tocsin(body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


@app.post("/hooks/tocsin")
def tocsin_alert():
    body = request.get_data()  # the exact bytes that were signed: verify before parsing
    if not is_from_tocsin(body, request.headers.get(HEADER, "")):
        app.logger.warning("refused a request without a valid %s", HEADER)
        abort(401)
    payload = request.get_json(silent=True) or {}
    alert = payload.get("data", {}).get("alert", {})
    print(f"[{request.headers.get('x-tocsin-event')}] {alert.get('severity', '-')}: {alert.get('message', '')}"
          f" (alert {request.headers.get('x-tocsin-alert-id', '-')})", flush=True)
    return {"ok": True}


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8000")))
