"""Load generation against the real server: run reports through `POST /api/v1/runs`.

Clients keep one HTTP/1.1 connection each (`http.client`, which sends headers and a bytes body
in one segment, so Nagle never holds a request back) and reconnect when the server closes it.
"""
import http.client
import json
import multiprocessing
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
    def __init__(self, port: int, api_key: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post_run(self, report: dict) -> tuple[int, bytes]:
        body = json.dumps(report).encode()
        for tries in range(2):  # once more on a connection the server had closed
            try:
                self.connection.request("POST", "/api/v1/runs", body=body, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                # close() lets the next request reconnect (else http.client raises CannotSendRequest)
                self.connection.close()
                if tries:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


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
            except (OSError, http.client.HTTPException) as error:
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
