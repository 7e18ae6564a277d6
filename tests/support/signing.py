"""Helpers for the signature-scheme tests: an endpoint of a given scheme made through the API, a real
alert fired at it (a failed run matching a rule), and verification by Node.js (the standardwebhooks
npm package, or an endpoint page's snippet) of what a loopback receiver got."""
import base64
import json
import os
import subprocess
from pathlib import Path

from webapp.services.delivery import pool

NODE_DIR = Path(__file__).resolve().parents[1] / "signing" / "node"


def create_endpoint(api, receiver, path="/hook", **fields) -> dict:
    """POST /api/v1/endpoints; the 201 body (with `secret` unless the scheme is none)."""
    response = api.post("/endpoints", json={"name": f"Receiver {path}", "url": receiver.url(path), **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fire_alert(api, receiver, endpoint_ids, job="nightly-report"):
    """A rule for `endpoint_ids` and a failed run that matches it; the requests the receiver got."""
    before = len(receiver.requests)
    rule = api.post("/rules", json={"name": f"{job} fails", "event": "run_failed", "job_filter": job,
                                    "severity": "critical", "endpoint_ids": endpoint_ids, "cooldown_seconds": 0})
    assert rule.status_code == 201, rule.get_json()
    run = api.post("/runs", json={"job": job, "status": "failed", "duration_ms": 42_000, "message": "exit code 3"})
    assert run.status_code == 201, run.get_json()
    requests = receiver.wait_for(before + len(endpoint_ids))
    assert pool.wait_idle(10)
    return requests[before:]


def send_test(api, endpoint_id, receiver):
    """Send test alert; the request the receiver got."""
    before = len(receiver.requests)
    outcome = api.post(f"/endpoints/{endpoint_id}/test").get_json()
    assert outcome["outcome"] == "success", outcome
    return receiver.wait_for(before + 1)[before]


def node_verify(secret: str, request, snippet: Path | None = None) -> dict:
    """Run tests/signing/node/verify.js on a received request: with the standardwebhooks npm
    package, or with the `verify` function exported by `snippet`. Returns its {"ok", ...} answer."""
    assert (NODE_DIR / "node_modules" / "standardwebhooks").is_dir(), \
        "the standardwebhooks npm package is missing: run scripts/ensure-node-packages.sh (make test does)"
    command = ["node", str(NODE_DIR / "verify.js"), *([str(snippet)] if snippet else [])]
    stdin = json.dumps({"secret": secret, "headers": request.headers,
                        "body_base64": base64.b64encode(request.body).decode()})
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
