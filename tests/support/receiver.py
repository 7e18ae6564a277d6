"""A real HTTP receiver on 127.0.0.1 for delivery tests (a thread, not a mock of requests).

Behaviour is scripted per request: `receiver.respond(500)`, `receiver.respond(200, delay=2)`,
`receiver.respond(429, headers={"Retry-After": "1"})`; when the script is empty it answers
`default_status`. Every request is recorded with its headers and body.
"""
import collections
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict
    body: bytes
    received_at: float

    def json(self):
        import json
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        connection, address = super().get_request()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per request on loopback.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Receiver:
    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[ReceivedRequest] = []
        self.script: collections.deque[Response] = collections.deque()
        self.default = Response()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.release = threading.Event()  # set to free requests held with delay=float("inf")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(ReceivedRequest(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        body, time.time()))
                    response = receiver.script.popleft() if receiver.script else receiver.default
                    receiver.arrived.notify_all()
                if response.delay:
                    receiver.release.wait(None if response.delay == float("inf") else response.delay)
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_PUT = do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = _Server((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, status: int = 200, body: bytes | str = b'{"ok": true}', headers: dict | None = None,
                delay: float = 0.0) -> "Receiver":
        """Queue the answer for the next request (in order)."""
        if isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.script.append(Response(status, body, headers or {}, delay))
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests arrived; returns them (fails the test on timeout)."""
        deadline = time.time() + timeout
        with self.lock:
            while len(self.requests) < count:
                remaining = deadline - time.time()
                if remaining <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")
                self.arrived.wait(remaining)
            return list(self.requests)

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
