"""A webhook receiver that fails on purpose, in its own process (so it shares no GIL with the
sender or the load), for the receiver-fault scenarios (bench/faults_receiver.py and
tests/delivery/test_receiver_outage.py, test_flaky_receiver.py).

`python -m bench.unreliable_receiver --port N --fail-share 0.01 --hang-seconds 1.5` binds
127.0.0.1:N (SO_REUSEADDR, so a port the caller held bound but not listening, which refused
connections during an outage, can be taken over) and prints `PORT <n>` once it listens. Each
attempt fails with probability `fail-share`, half of those with HTTP 500, half by sleeping
`hang-seconds` (past the sender's timeout) before answering. Every attempt is recorded under its
`webhook-id`: the first attempt's arrival, the attempts, the 2xx answers given (more than one is a
duplicate) and the first success's arrival.

`GET /stats`: `{"posts", "errors", "hangs", "ids", "delivered", "duplicates", "first_post",
"last_delivery"}`; `GET /deliveries`: `{webhook_id: [first_at, attempts, successes, delivered_at]}`.
Times are unix seconds. TCP_NODELAY and Content-Length on every answer (DESIGN.md).
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.receiver import serve_until_terminated

FIRST_AT, ATTEMPTS, SUCCESSES, DELIVERED_AT = range(4)


class UnreliableServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, port: int, fail_share: float, hang_seconds: float, seed: int):
        super().__init__(("127.0.0.1", port), UnreliableHandler)
        self.fail_share, self.hang_seconds = fail_share, hang_seconds
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.deliveries: dict[str, list] = {}
        self.posts = self.errors = self.hangs = 0
        self.first_post: float | None = None
        self.last_delivery: float | None = None

    def fate(self, webhook_id: str, arrived: float) -> str:
        """Record the attempt and decide its answer: "ok", "error" (500) or "hang"."""
        with self.lock:
            self.posts += 1
            self.first_post = self.first_post or arrived
            record = self.deliveries.setdefault(webhook_id, [arrived, 0, 0, None])
            record[ATTEMPTS] += 1
            draw = self.random.random()
            if draw < self.fail_share / 2:
                self.errors += 1
                return "error"
            if draw < self.fail_share:
                self.hangs += 1
                return "hang"
            record[SUCCESSES] += 1
            if record[DELIVERED_AT] is None:
                record[DELIVERED_AT] = arrived
                self.last_delivery = max(self.last_delivery or arrived, arrived)
            return "ok"

    def stats(self) -> dict:
        with self.lock:
            successes = [record[SUCCESSES] for record in self.deliveries.values()]
            return {"posts": self.posts, "errors": self.errors, "hangs": self.hangs, "ids": len(successes),
                    "delivered": sum(1 for count in successes if count),
                    "duplicates": sum(count - 1 for count in successes if count > 1),
                    "first_post": self.first_post, "last_delivery": self.last_delivery}

    def handle_error(self, request, client_address):
        pass  # a sender that timed out and closed its connection is expected here

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class UnreliableHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        fate = self.server.fate(self.headers.get("webhook-id") or "(none)", arrived)
        if fate == "hang":
            time.sleep(self.server.hang_seconds)  # the sender has timed out and gone by now
        self._answer(b'{"ok":true}' if fate == "ok" else b'{"ok":false}', 200 if fate == "ok" else 500)

    def do_GET(self):
        if self.path == "/deliveries":
            with self.server.lock:
                body = json.dumps(self.server.deliveries).encode()
        else:
            body = json.dumps(self.server.stats()).encode()
        self._answer(body)

    def _answer(self, body: bytes, status: int = 200) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


# --- driving it from a test or a benchmark -------------------------------------------------------


class RefusingPort:
    """A loopback port bound but never listening: every connection to it is refused (the
    receiver is down), and no other program can take the port meanwhile."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.socket.close()


class RunningReceiver:
    """The receiver process: its port, what it counted, and how to stop it (by its own pid)."""

    def __init__(self, process: subprocess.Popen, port: int):
        self.process, self.port = process, port
        self.ready_at = time.time()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url(path), timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._get("/stats")

    def deliveries(self) -> dict[str, list]:
        return self._get("/deliveries")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process.stdout.close()


def start(port: int = 0, *, fail_share: float = 0.0, hang_seconds: float = 1.5, seed: int = 18,
          held: RefusingPort | None = None) -> RunningReceiver:
    """Start the receiver process on `port`; with `held`, on that port, closed the moment before
    (the outage ends). Returns once it listens."""
    if held is not None:
        port = held.port
        held.close()
    command = [sys.executable, "-m", "bench.unreliable_receiver", "--port", str(port),
               "--fail-share", str(fail_share), "--hang-seconds", str(hang_seconds), "--seed", str(seed)]
    process = subprocess.Popen(command, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               stdout=subprocess.PIPE, start_new_session=True)
    line = process.stdout.readline().decode().strip()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"the unreliable receiver did not start (said {line!r})")
    return RunningReceiver(process, int(line.split()[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-share", type=float, default=0.0)
    parser.add_argument("--hang-seconds", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=18)
    options = parser.parse_args()
    serve_until_terminated(UnreliableServer(options.port, options.fail_share, options.hang_seconds, options.seed))


if __name__ == "__main__":
    main()
