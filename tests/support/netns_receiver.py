"""A slow webhook receiver listening inside a network namespace, recording who sent what.

Each POST is recorded on arrival (webhook-id, the sender's address, the body's alert id, the
headers and body for signature checks) and answered 200 after `delay` seconds, so the senders
hold their attempts in flight for that long. The listening socket is made inside the namespace
(`netns.inside`); the serving threads run in this process.
"""
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support import netns


@dataclass(frozen=True)
class Arrival:
    webhook_id: str
    sender: str  # the client's address: which host sent it
    alert_id: int | None
    arrived_at: float  # time.time()
    headers: dict
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # DESIGN.md: no Nagle stalls
        return connection, address


class SlowReceiver:
    def __init__(self, namespace: str, address: str, delay: float):
        self.arrivals: list[Arrival] = []
        self.in_flight: dict[str, int] = {}  # sender → requests it has open here
        self.lock = threading.Lock()
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sender = self.client_address[0]
                receiver._record(sender, {name.lower(): value for name, value in self.headers.items()}, body)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.in_flight[sender] -= 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender's link is gone

            def log_message(self, *args):
                pass

        with netns.inside(namespace):
            self.server = _Server((address, 0), Handler)
        self.address = address
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, sender: str, headers: dict, body: bytes) -> None:
        try:
            alert_id = int(json.loads(body)["data"]["alert"]["id"])
        except (ValueError, KeyError, TypeError):
            alert_id = None
        with self.lock:
            self.arrivals.append(Arrival(headers.get("webhook-id", ""), sender, alert_id, time.time(), headers, body))
            self.in_flight[sender] = self.in_flight.get(sender, 0) + 1

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.server.server_address[1]}/hook"

    def open_from(self, sender: str) -> int:
        with self.lock:
            return self.in_flight.get(sender, 0)

    def senders(self) -> dict[str, int]:
        """Arrivals so far per sender address."""
        with self.lock:
            return {sender: sum(1 for a in self.arrivals if a.sender == sender)
                    for sender in {a.sender for a in self.arrivals}}

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
