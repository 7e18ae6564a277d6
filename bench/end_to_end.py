"""End to end as a user's traffic arrives (issue 18, point 4; BENCH_ONLY=end_to_end).

8 client processes report 1,000 failed runs as fast as the server answers (one keep-alive
connection each); one `run_failed` rule sends every alert to 10 endpoints, all on the loopback
receiver, with the per-endpoint limits raised out of the way (TOCSIN_ENDPOINT_RATE,
TOCSIN_ENDPOINT_CONCURRENCY). gunicorn runs 2 workers × 4 threads with the scheduler on.
Printed: reports/s accepted, deliveries/s arrived (first report → last arrival), and CPU
seconds per delivery of the gunicorn processes (master and workers, from /proc/<pid>/stat) and
of the receiver. BENCH_QUICK=1: 200 runs. BENCH_PROFILE=<dir> records each worker with py-spy
(`--format raw`, BENCH_PYSPY names the binary, BENCH_PYSPY_ARGS adds flags) into that directory while the scenario runs.
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import database, load, processes
from bench.report import Cell, Row
from bench.server_runs import receiver_get

CLIENTS = 8
ENDPOINTS = 10
BUCKET = "e2e"
LIMITS = {"TOCSIN_ENDPOINT_RATE": "100000", "TOCSIN_ENDPOINT_CONCURRENCY": "64",
          "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "TOCSIN_SCHEDULER": "on"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def runs() -> int:
    return 200 if os.environ.get("BENCH_QUICK", "") not in ("", "0") else 1_000


def make_rows() -> dict[str, Row]:
    return {
        "e2e_reports": Row(f"End to end: failed runs accepted ({runs():,}, {CLIENTS} clients)", "≥ 1,000/s"),
        "e2e_deliveries": Row(f"End to end: deliveries, first report → last arrival (× {ENDPOINTS} endpoints)",
                              "≥ 1,000/s"),
        "e2e_cpu": Row("End to end: CPU ms per delivery, gunicorn / receiver", "—"),
    }


@dataclass
class Outcome:
    reported: int
    errors: int
    first_error: str | None
    reports_per_second: float
    delivered: int
    expected: int
    deliveries_per_second: float
    server_cpu_seconds: float
    receiver_cpu_seconds: float


def cpu_seconds(pids) -> float:
    """utime + stime of live processes (fields 14 and 15 of /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def _seed(app, receiver_port: int) -> str:
    """A workspace of its own: 10 endpoints and one rule for every failed `e2e-*` run; its API key."""
    from webapp.extensions import db
    from webapp.services import accounts

    with app.app_context():
        user = accounts.create_user("e2e@example.com", database.PASSWORD)
        _, api_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="end to end")
        endpoints = [database._endpoint(user.workspace_id, user.id, f"e2e receiver {number}",
                                        f"http://127.0.0.1:{receiver_port}/{BUCKET}/{number}")
                     for number in range(ENDPOINTS)]
        db.session.add(database._rule(user.workspace_id, user.id, "every failed e2e run", "e2e-*", endpoints))
        db.session.commit()
        db.session.remove()
    return api_key


def _client(number: int, port: int, api_key: str, count: int, start_at: float, results) -> None:
    """One client process: `count` failed runs back to back; (completed, errors, first error, first start, last end)."""
    client = load.ApiClient(port, api_key)
    completed = errors = 0
    first_error = None
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.time()
    try:
        for sequence in range(count):
            try:
                status, body = client.post_run({"job": f"e2e-{number}", "external_id": f"e2e-{number}-{sequence}",
                                                "status": "failed", "duration_ms": 4200, "message": "exit code 3"})
            except OSError as error:
                status, body = 0, str(error).encode()
            if status == 201:
                completed += 1
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        client.close()
        results.put((completed, errors, first_error, began, time.time()))


def _report(port: int, api_key: str, total: int) -> tuple[int, int, str | None, float, float]:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.5
    shares = [total // CLIENTS + (number < total % CLIENTS) for number in range(CLIENTS)]
    clients = [context.Process(target=_client, args=(number, port, api_key, share, start_at, results), daemon=True)
               for number, share in enumerate(shares)]
    for client in clients:
        client.start()
    collected = [results.get(timeout=300) for _ in clients]
    for client in clients:
        client.join(timeout=5)
    return (sum(c[0] for c in collected), sum(c[1] for c in collected),
            next((c[2] for c in collected if c[2]), None), min(c[3] for c in collected), max(c[4] for c in collected))


def _warm_up(port: int, api_key: str) -> None:
    """A few reports no rule matches, so the workers have imported and connected before timing."""
    client = load.ApiClient(port, api_key)
    try:
        for number in range(40):
            client.post_run({"job": "warm-up", "external_id": f"warm-{number}", "status": "succeeded"})
    finally:
        client.close()


def _profile(pids: list[int]) -> list[subprocess.Popen]:
    directory = os.environ.get("BENCH_PROFILE")
    if not directory:
        return []
    Path(directory).mkdir(parents=True, exist_ok=True)
    binary = os.environ.get("BENCH_PYSPY", "/tmp/pyspy/bin/py-spy")
    extra = os.environ.get("BENCH_PYSPY_ARGS", "").split()  # e.g. --gil (CPU under the GIL only), --native
    return [subprocess.Popen([binary, "record", "--format", "raw", "--rate", "200", "--nonblocking", *extra,
                              "--pid", str(pid), "-o", str(Path(directory) / f"e2e-{pid}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]


def run(app, env: dict, workdir: Path, receiver, receiver_port: int) -> Outcome:
    api_key = _seed(app, receiver_port)
    server = processes.start_gunicorn({**env, **LIMITS}, workdir, "end-to-end")
    try:
        _warm_up(int(env["PORT"]), api_key)
        pids = [server.pid, *processes.worker_pids(server.pid)]
        before = receiver_get(receiver_port, "/stats")["buckets"].get(BUCKET, {}).get("count", 0)
        cpu_before, receiver_before = cpu_seconds(pids), cpu_seconds([receiver.pid])
        profilers = _profile(pids[1:])
        total = runs()
        reported, errors, first_error, first_start, last_answer = _report(int(env["PORT"]), api_key, total)
        expected, delivered, bucket, progress_at = reported * ENDPOINTS, 0, {}, time.monotonic()
        while delivered < expected and time.monotonic() - progress_at < 30:
            time.sleep(0.2)
            bucket = receiver_get(receiver_port, "/stats")["buckets"].get(BUCKET, {})
            if bucket.get("count", 0) - before > delivered:
                delivered, progress_at = bucket["count"] - before, time.monotonic()
        cpu_after, receiver_after = cpu_seconds(pids), cpu_seconds([receiver.pid])
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
    finally:
        processes.stop(server)
    span = max(1e-6, bucket.get("last", first_start) - first_start)
    return Outcome(reported, errors, first_error, reported / max(1e-6, last_answer - first_start), delivered,
                   expected, delivered / span, cpu_after - cpu_before, receiver_after - receiver_before)


def measure(app, env: dict, workdir: Path, receiver, receiver_port: int, label: str, rows, notes) -> None:
    print(f"[bench] {label}: end to end, {runs():,} failed runs × {ENDPOINTS} endpoints", flush=True,
          file=sys.stderr)
    outcome = run(app, env, workdir, receiver, receiver_port)
    per_delivery = 1000 / max(1, outcome.delivered)
    rows["e2e_reports"].cells[label] = Cell(f"{outcome.reports_per_second:,.0f}/s",
                                            outcome.reports_per_second >= 1000, outcome.reports_per_second)
    rows["e2e_deliveries"].cells[label] = Cell(f"{outcome.deliveries_per_second:,.0f}/s",
                                               outcome.deliveries_per_second >= 1000 and
                                               outcome.delivered == outcome.expected, outcome.deliveries_per_second)
    rows["e2e_cpu"].cells[label] = Cell(f"{outcome.server_cpu_seconds * per_delivery:.2f} / "
                                        f"{outcome.receiver_cpu_seconds * per_delivery:.2f} ms")
    notes.append(f"{label}: end to end {outcome.reported:,} runs accepted ({outcome.errors} errors"
                 + (f", first: {outcome.first_error}" if outcome.first_error else "")
                 + f"), {outcome.delivered:,} of {outcome.expected:,} deliveries arrived; CPU "
                 f"{outcome.server_cpu_seconds:.1f} s gunicorn, {outcome.receiver_cpu_seconds:.1f} s receiver")
