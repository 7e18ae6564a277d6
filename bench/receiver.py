"""The benchmark's webhook receiver: answers every POST at once with 200, in its own process
so it never shares a GIL with the load generator or the server.

Run as `python -m bench.receiver`; it binds 127.0.0.1 on a free port and prints
`PORT <n>` on its first line of output. It counts POSTs per first path segment (`/tp/7` counts
under `tp`) with the first and last arrival times. For `/latency/…`, `/deadline/…` and
`/burst/…` it keeps when the first attempt for each run arrived (keyed by the payload's
`data.run.external_id`). `/retry/…` answers 500 to the first attempt of each delivery and 200
to the next, and keeps when that retry arrived (keyed by its `webhook-id`).
`GET /stats` answers `{"posts": n, "buckets": {name: {"count", "first", "last"}}}`;
`GET /latency` answers `{external_id: arrival unix time}`, `GET /arrivals/<bucket>` the same
for any of those buckets.

TCP_NODELAY on every accepted socket and a Content-Length on every answer (DESIGN.md,
"Measuring on loopback"): without them Nagle and delayed ACKs add ~40 ms per request.
"""
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_BODY = b'{"ok":true}'
FAILED_BODY = b'{"ok":false}'
BY_RUN = ("latency", "deadline", "burst")  # arrivals kept per run external id
RETRIED = "retry"  # the first attempt of each delivery fails; arrivals of the retry are kept


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address):
        super().__init__(address, ReceiverHandler)
        self.posts = 0
        self.buckets: dict[str, dict] = {}
        self.arrivals: dict[str, dict[str, float]] = {name: {} for name in (*BY_RUN, RETRIED)}
        self.failed_once: set[str] = set()
        self.lock = threading.Lock()

    def record(self, path: str, body: bytes, arrived: float, webhook_id: str | None) -> bool:
        """Count the POST; False when it is to be answered with a failure (a first attempt to `/retry/`)."""
        bucket_name = path.strip("/").split("/", 1)[0] or "root"
        external_id = _run_external_id(body) if bucket_name in BY_RUN else None
        with self.lock:
            self.posts += 1
            bucket = self.buckets.setdefault(bucket_name, {"count": 0, "first": arrived, "last": arrived})
            bucket["count"] += 1
            bucket["last"] = max(bucket["last"], arrived)
            if external_id is not None:
                self.arrivals[bucket_name].setdefault(external_id, arrived)
            if bucket_name == RETRIED and webhook_id is not None:
                if webhook_id not in self.failed_once:
                    self.failed_once.add(webhook_id)
                    return False
                self.arrivals[RETRIED].setdefault(webhook_id, arrived)
        return True

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def _run_external_id(body: bytes) -> str | None:
    try:
        return json.loads(body)["data"]["run"]["external_id"]
    except (ValueError, KeyError, TypeError):
        return None


class ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a sender may reuse its connection

    def do_POST(self):
        arrived = time.time()  # when the request line and headers were read
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        succeeded = self.server.record(self.path, body, arrived, self.headers.get("webhook-id"))
        self._answer(OK_BODY if succeeded else FAILED_BODY, 200 if succeeded else 500)

    def do_GET(self):
        with self.server.lock:
            if self.path == "/latency":
                body = json.dumps(self.server.arrivals["latency"]).encode()
            elif self.path.startswith("/arrivals/"):
                body = json.dumps(self.server.arrivals.get(self.path.split("/")[2], {})).encode()
            else:
                body = json.dumps({"posts": self.server.posts, "buckets": self.server.buckets}).encode()
        self._answer(body)

    def _answer(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main() -> None:
    serve_until_terminated(ReceiverServer(("127.0.0.1", 0)))


def serve_until_terminated(server) -> None:
    """Print `PORT <n>` for the parent, serve until SIGTERM or Ctrl-C, then exit 0."""
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
