"""A small Flask app that receives Tocsin alerts signed with the Standard Webhooks scheme (the
default) and checks they really come from Tocsin.

    pip install -r examples/requirements.txt
    export TOCSIN_WEBHOOK_SECRET=whsec_...   # the endpoint's signing secret (Reveal secret in Tocsin)
    flask --app examples/receivers/standard_webhooks.py run --port 8000

Then point a Tocsin endpoint (format "json", signature scheme standard-webhooks) at
http://<this host>:8000/hooks/tocsin and press "Send test alert". What the receiver does, in order:

1. Verifies the `webhook-signature` with the `standardwebhooks` package (any signature in the
   header may match: during the 24 hours after a rotation Tocsin sends two).
2. Rejects old or future timestamps: `Webhook.verify` refuses a `webhook-timestamp` more than
   5 minutes away from this machine's clock, so a captured request cannot be replayed later.
3. Drops duplicates: Tocsin retries a failed delivery with the same `webhook-id`, so an id seen
   before is answered 200 again without being processed twice.
4. Prints the alert and answers 2xx quickly (Tocsin counts any 2xx as delivered).
"""
import os
import threading
from collections import OrderedDict

from flask import Flask, abort, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

app = Flask(__name__)
webhook = Webhook(os.environ["TOCSIN_WEBHOOK_SECRET"])


class SeenIds:
    """The last `size` webhook-ids, remembered in memory (use Redis or a table with several processes).
    Ids older than the 5-minute timestamp tolerance cannot be replayed anyway."""

    def __init__(self, size: int = 10_000):
        self.size, self.ids, self.lock = size, OrderedDict(), threading.Lock()

    def first_time(self, message_id: str) -> bool:
        with self.lock:
            if message_id in self.ids:
                return False
            self.ids[message_id] = True
            if len(self.ids) > self.size:
                self.ids.popitem(last=False)
            return True


seen = SeenIds()


@app.post("/hooks/tocsin")
def tocsin_alert():
    body = request.get_data()  # the exact bytes that were signed: verify before parsing
    try:
        payload = webhook.verify(body, dict(request.headers))
    except (WebhookVerificationError, ValueError) as error:  # ValueError: a malformed signature header
        app.logger.warning("refused a request: %s", error)
        abort(401)
    if not seen.first_time(request.headers["webhook-id"]):
        return {"ok": True, "duplicate": True}
    data = payload.get("data", {})
    alert = data.get("alert", {})
    job = data.get("job") or {}
    print(f"[{payload['type']}] {alert.get('severity', '-')}: {alert.get('message', '')}"
          f" (job {job.get('slug', '-')}, webhook-id {request.headers['webhook-id']})", flush=True)
    return {"ok": True}


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8000")))
