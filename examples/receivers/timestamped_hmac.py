"""A small Flask app that receives Tocsin alerts signed with the timestamped hex HMAC scheme
(`timestamped-hmac-hex`, the cueapi style) and refuses forgeries and replays.

    pip install -r examples/requirements.txt
    export TOCSIN_WEBHOOK_SECRET=...           # the endpoint's signing secret
    export TOCSIN_HEADER_PREFIX=X-CueAPI-      # the endpoint's header prefix (default X-Tocsin-)
    flask --app examples/receivers/timestamped_hmac.py run --port 8000

Point the endpoint at http://<this host>:8000/hooks/tocsin. `<prefix>Signature` holds `v1=` +
lowercase hex of HMAC-SHA256(secret as UTF-8, "{timestamp}.{body}") with the `<prefix>Timestamp`
value; a bad signature, or a timestamp more than 5 minutes from this machine's clock (a
replayed request), is answered 401.
"""
import hashlib
import hmac
import os
import time

from flask import Flask, request

app = Flask(__name__)
SECRET = os.environ["TOCSIN_WEBHOOK_SECRET"].encode("utf-8")
PREFIX = os.environ.get("TOCSIN_HEADER_PREFIX", "X-Tocsin-")
TOLERANCE_SECONDS = 5 * 60


def refusal(body: bytes, timestamp: str, signature: str) -> str | None:
    """Why the request is refused, or None when it is a fresh alert from Tocsin."""
    if not timestamp.isdigit():
        return f"no {PREFIX}Timestamp"
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return f"{PREFIX}Timestamp is more than 5 minutes off (a replay?)"
    expected = "v1=" + hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(signature, expected) else f"{PREFIX}Signature does not match"


@app.post("/hooks/tocsin")
def tocsin_alert():
    body = request.get_data()  # the exact bytes that were signed: verify before parsing
    reason = refusal(body, request.headers.get(PREFIX + "Timestamp", ""), request.headers.get(PREFIX + "Signature", ""))
    if reason:
        app.logger.warning("refused a request: %s", reason)
        return {"ok": False, "error": reason}, 401
    payload = request.get_json(silent=True) or {}
    alert = payload.get("data", {}).get("alert", {})
    print(f"[{request.headers.get('x-tocsin-event')}] {alert.get('severity', '-')}: {alert.get('message', '')}"
          f" (alert {request.headers.get('x-tocsin-alert-id', '-')})", flush=True)
    return {"ok": True}


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8000")))
