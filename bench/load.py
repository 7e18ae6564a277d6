"""Load generation against the real server: run reports through `POST /api/v1/runs`.

Each client keeps one HTTP/1.1 connection over a plain socket with the request head prebuilt:
the load generator shares the server's two cores, so every microsecond it spends is taken from
the server it measures (http.client parses each response's headers with the email package,
about a third of a millisecond per request, as much as a sixth of the server's own work).
"""
import json
import multiprocessing
import socket
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    completed: int
    errors: int
    seconds: float
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


class ApiClient:
    """POSTs run reports on one keep-alive connection; reconnects once when the server closed it."""

    def __init__(self, port: int, api_key: str):
        self.port = port
        self.head = (f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
                     "Content-Length: ").encode()
        self.connection: socket.socket | None = None
        self.buffered = b""

    def post_run(self, report: dict) -> tuple[int, bytes]:
        body = json.dumps(report).encode()
        request = b"%s%d\r\n\r\n%s" % (self.head, len(body), body)  # one segment: Nagle never holds it
        for tries in range(2):
            try:
                if self.connection is None:
                    self.connection = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connection.sendall(request)
                return self._response()
            except OSError:
                self.close()
                if tries:
                    raise
        raise AssertionError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        """Status and body of one response framed by Content-Length (all the API sends)."""
        while b"\r\n\r\n" not in self.buffered:
            self._receive()
        head, _, self.buffered = self.buffered.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if length is None:
            raise ConnectionError(f"HTTP {status} without Content-Length: {head[:200]!r}")
        while len(self.buffered) < length:
            self._receive()
        body, self.buffered = self.buffered[:length], self.buffered[length:]
        if close:
            self.close()
        return status, body

    def _receive(self) -> None:
        chunk = self.connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffered += chunk

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection, self.buffered = None, b""


def _ingest_client(number: int, port: int, api_key: str, start_at: float, seconds: float, results) -> None:
    """One client process: succeeded one-shot reports and open runs, alternately, until time is up."""
    client = ApiClient(port, api_key)
    completed = errors = 0
    first_error = None
    while time.time() < start_at:
        time.sleep(0.001)
    stop_at = start_at + seconds
    sequence = 0
    try:
        while time.time() < stop_at:
            sequence += 1
            report = {"job": f"ingest-{number % 5}", "external_id": f"c{number}-{sequence}"}
            if sequence % 2:
                report.update(status="succeeded", duration_ms=1200)
            try:
                status, body = client.post_run(report)
            except OSError as error:
                status, body = 0, str(error).encode()
            if time.time() > stop_at:
                break
            if status == 201:
                completed += 1
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        client.close()
        results.put((completed, errors, first_error))


def ingest(port: int, api_key: str, clients: int, seconds: float) -> LoadResult:
    """`clients` processes posting run reports for `seconds`; completed 201s per second."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    processes = [context.Process(target=_ingest_client, args=(number, port, api_key, start_at, seconds, results),
                                 daemon=True) for number in range(clients)]
    for process in processes:
        process.start()
    collected = []
    try:
        for _ in processes:
            collected.append(results.get(timeout=seconds + 60))
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    first_error = next((error for _, _, error in collected if error), None)
    return LoadResult(sum(c for c, _, _ in collected), sum(e for _, e, _ in collected), seconds, first_error)


def report_failed_runs(port: int, api_key: str, count: int, per_second: float, jobs: int
                       ) -> tuple[LoadResult, dict[str, float]]:
    """`count` failed one-shot runs at a steady pace (one connection), spread over `jobs` jobs
    (`latency-00`, …): each should raise one alert. Also returns when each request started
    (unix time, keyed by the run's external id) for matching with the receiver's arrivals."""
    client = ApiClient(port, api_key)
    completed = errors = 0
    first_error = None
    started_at: dict[str, float] = {}
    started = time.perf_counter()
    try:
        for number in range(count):
            pause = started + number / per_second - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            external_id = f"lat-{number}"
            started_at[external_id] = time.time()
            status, body = client.post_run({"job": f"latency-{number % jobs:02d}", "external_id": external_id,
                                            "status": "failed", "duration_ms": 4200, "message": "exit code 3"})
            if status == 201:
                completed += 1
            else:
                errors += 1
                started_at.pop(external_id)
                first_error = first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        client.close()
    return LoadResult(completed, errors, time.perf_counter() - started, first_error), started_at
