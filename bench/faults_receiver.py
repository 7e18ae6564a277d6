"""`make bench` scenarios of receiver faults (BENCH_ONLY=outage, flaky, soak), on each database
of the run, each against its own fresh database, gunicorn (2 workers × 4 threads, scheduler on)
and bench/unreliable_receiver.py:

- outage: the receiver's port refuses connections for 5 minutes (× BENCH_OUTAGE_SCALE, default 1:
  the real window, and the real back-off) while 5,000 alerts are raised through the API at a
  steady pace; then it listens again: lost, duplicates, drain time (back → last arrival).
- flaky: 100,000 deliveries written at a steady 250/s; 1 % of attempts answer 500 or hang past the
  endpoint's 1 s timeout (real back-off): delivered share, duplicates, retried share and extra
  latency of the retried ones (arrival − first attempt, p50 / p99).
- soak: BENCH_SOAK_SECONDS (1,200) at 100 failed-run reports/s to 20 endpoints (default limits),
  1 % receiver failures: gunicorn workers' RSS after warm-up vs end, errors (API and log), queue
  depth (pending + sending rows, sampled every 10 s), then lost and duplicates after the drain.
BENCH_QUICK=1 shrinks them: 500 alerts over 30 s (scale 0.1), 5,000 deliveries, a 60 s soak.
"""
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import database, processes
from bench.load import ApiClient
from bench.report import Cell, Row
from bench.server_runs import percentile
from bench.unreliable_receiver import RefusingPort, start

SCENARIOS = ("outage", "flaky", "soak")
# Per-endpoint limits raised where one endpoint takes everything (outage, flaky); the soak keeps
# the defaults, spread over 20 endpoints. The API's per-key limits out of the way of the load.
RAISED_LIMITS = {"TOCSIN_ENDPOINT_RATE": "5000", "TOCSIN_ENDPOINT_CONCURRENCY": "16"}
SERVER_SETTINGS = {"TOCSIN_SCHEDULER": "on", "TOCSIN_API_REPORT_RATE": "100000", "TOCSIN_API_REPORT_BURST": "100000"}
FAIL_SHARE, TIMEOUT_SECONDS, HANG_SECONDS = 0.01, 1, 1.5


@dataclass(frozen=True)
class FaultSizes:
    outage_alerts: int = 5_000
    outage_scale: float = 1.0
    flaky_deliveries: int = 100_000
    flaky_per_second: float = 250.0
    soak_seconds: float = 1200.0
    soak_per_second: float = 100.0
    soak_endpoints: int = 20


def fault_sizes(quick: bool) -> FaultSizes:
    scale = float(os.environ.get("BENCH_OUTAGE_SCALE") or (0.1 if quick else 1.0))
    soak = float(os.environ.get("BENCH_SOAK_SECONDS") or (60 if quick else 1200))
    if quick:
        return FaultSizes(outage_alerts=500, outage_scale=scale, flaky_deliveries=5_000, soak_seconds=soak)
    return FaultSizes(outage_scale=scale, soak_seconds=soak)


def make_rows(quick: bool) -> dict[str, Row]:
    sizes = fault_sizes(quick)
    return {
        "outage": Row(f"Receiver outage {300 * sizes.outage_scale:g} s, {sizes.outage_alerts:,} alerts: "
                      "lost / duplicates / drain", "0 / 0"),
        "flaky": Row(f"Flaky receiver (1 % 500 or hang), {sizes.flaky_deliveries:,} deliveries: delivered / "
                     "duplicates / retried extra p50, p99", "100 % / 0"),
        "soak": Row(f"Soak {sizes.soak_seconds:g} s at {sizes.soak_per_second:g} reports/s, 1 % failures: "
                    "RSS growth / errors / max queue", "< 10 % / 0"),
    }


def run(label: str, postgres_url: str | None, workdir: Path, quick: bool, rows: dict, notes: list, wanted) -> None:
    """The scenarios `wanted(name)` selects, each on a fresh database of this kind."""
    sizes = fault_sizes(quick)
    for name, scenario in (("outage", outage), ("flaky", flaky), ("soak", soak)):
        if wanted(name):
            directory = workdir / f"faults-{name}"
            directory.mkdir(exist_ok=True)
            _say(f"{label}: receiver fault scenario {name}")
            with database.backend(label, directory, postgres_url) as backend:
                scenario(backend, directory, sizes, rows, notes)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the parts: a seeded deployment, paced reports, the receiver's count ---------------------------


@dataclass
class Deployment:
    app: object
    port: int
    server: object
    api_key: str
    endpoint_ids: list[int]
    log_path: Path


def _seed(app, routes: list[tuple[str, str]], timeout_seconds: int) -> tuple[str, list[int]]:
    """An owner with an API key and, per (job filter, URL) route, an endpoint and a rule raising
    an alert on every failed run it matches (cooldown 0)."""
    from webapp.extensions import db
    from webapp.models import Endpoint, Rule
    from webapp.services import accounts, crypto
    from webapp.services.signing import standard_webhooks

    with app.app_context():
        user = accounts.create_user(database.EMAIL, database.PASSWORD)
        db.session.flush()
        _, api_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="faults")
        endpoints = []
        for number, (job_filter, url) in enumerate(routes):
            endpoint = Endpoint(workspace_id=user.workspace_id, name=f"receiver {number}", url=url, format="json",
                                timeout_seconds=timeout_seconds, headers_encrypted={},
                                secret_encrypted=crypto.encrypt(standard_webhooks.generate_secret()))
            db.session.add(Rule(workspace_id=user.workspace_id, name=f"failures {number}", event="run_failed",
                                job_filter=job_filter, severity="critical", cooldown_seconds=0, endpoints=[endpoint]))
            endpoints.append(endpoint)
        db.session.commit()
        ids = [endpoint.id for endpoint in endpoints]
        db.session.remove()
    return api_key, ids


@contextmanager
def deployment(backend, workdir: Path, name: str, routes: list[tuple[str, str]], settings: dict,
               timeout_seconds: int = 5):
    secret_key, port = database.new_secret_key(), processes.free_port()
    env = processes.server_env(backend.url, secret_key, port, {**SERVER_SETTINGS, **settings})
    processes.migrate(env, workdir)
    app = database.make_app(backend, secret_key)
    api_key, endpoint_ids = _seed(app, routes, timeout_seconds)
    server = processes.start_gunicorn(env, workdir, name)
    try:
        yield Deployment(app, port, server, api_key, endpoint_ids, workdir / f"gunicorn-{name}.log")
    finally:
        processes.stop(server)
        with app.app_context():
            from webapp.extensions import db

            db.session.remove()
            db.engine.dispose()


@dataclass
class Reported:
    created: int
    errors: int
    seconds: float
    first_error: str | None


def report_failed_runs(port: int, api_key: str, count: int, *, clients: int = 8, per_second: float | None = None,
                       job=lambda number: f"nightly-{number % 20:02d}") -> Reported:
    """`count` failed run reports through POST /api/v1/runs from `clients` threads, each on its
    own keep-alive connection: as fast as they go, or paced at `per_second` in all."""
    numbers = iter(range(count))
    lock = threading.Lock()
    tally = {"created": 0, "errors": 0, "first_error": None}
    started = time.monotonic()

    def client_loop() -> None:
        client = ApiClient(port, api_key)
        try:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                if per_second:
                    time.sleep(max(0.0, started + number / per_second - time.monotonic()))
                try:
                    status, body = client.post_run({"job": job(number), "status": "failed",
                                                    "external_id": f"run-{number}", "message": "exit code 3"})
                except OSError as error:
                    status, body = 0, str(error).encode()
                with lock:
                    if status == 201:
                        tally["created"] += 1
                    else:
                        tally["errors"] += 1
                        tally["first_error"] = tally["first_error"] or f"HTTP {status}: {body[:200]!r}"
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Reported(tally["created"], tally["errors"], time.monotonic() - started, tally["first_error"])


def wait_for_deliveries(receiver, expected: int, *, stall_seconds: float = 30.0) -> dict:
    """Poll the receiver until `expected` ids were delivered; fails when none more arrive for
    `stall_seconds` (a stall is a finding, not a slow machine). Returns its last stats."""
    stats, progress_at, delivered = receiver.stats(), time.monotonic(), -1
    while stats["delivered"] < expected:
        if stats["delivered"] > delivered:
            delivered, progress_at = stats["delivered"], time.monotonic()
        elif time.monotonic() - progress_at > stall_seconds:
            raise AssertionError(f"delivery stalled: {stats['delivered']} of {expected} delivered; {stats}")
        time.sleep(0.2)
        stats = receiver.stats()
    return stats


def delivery_rows(app) -> dict[str, tuple[str, int]]:
    """{webhook-id: (status, attempt count)} of every delivery in the database."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Delivery

    with app.app_context():
        rows = {message_id: (status, attempts) for message_id, status, attempts in db.session.execute(
            sa.select(Delivery.message_id, Delivery.status, Delivery.attempt_count))}
        db.session.remove()
    return rows


def lost_and_duplicates(rows: dict, arrived: dict) -> tuple[int, int]:
    """Deliveries the database holds that never arrived with a 2xx, and 2xx answers beyond one per id."""
    lost = sum(1 for message_id in rows if not arrived.get(message_id, [0, 0, 0])[2])
    return lost, sum(max(0, record[2] - 1) for record in arrived.values())


# --- the scenarios ---------------------------------------------------------------------------------


def outage(backend, workdir: Path, sizes: FaultSizes, rows: dict, notes: list) -> None:
    label, window = backend.label, 300 * sizes.outage_scale
    held = RefusingPort()
    try:
        with deployment(backend, workdir, "outage", [("*", held.url("/outage"))],
                        {**RAISED_LIMITS, "TOCSIN_RETRY_SCALE": str(sizes.outage_scale)}) as server:
            began = time.monotonic()
            reported = report_failed_runs(server.port, server.api_key, sizes.outage_alerts, clients=4,
                                          per_second=sizes.outage_alerts / (0.9 * window))
            time.sleep(max(0.0, began + window - time.monotonic()))
            lasted = time.monotonic() - began
            refused = sum(attempts for _, attempts in delivery_rows(server.app).values())
            receiver = start(held=held)
            try:
                stats = wait_for_deliveries(receiver, reported.created, stall_seconds=max(60.0, 3 * window))
                time.sleep(2.0)
                stats, arrived = receiver.stats(), receiver.deliveries()
            finally:
                receiver.stop()
            database_rows = delivery_rows(server.app)
    finally:
        held.close()
    lost, duplicates = lost_and_duplicates(database_rows, arrived)
    drain = stats["last_delivery"] - receiver.ready_at
    rows["outage"].cells[label] = Cell(f"{lost} / {duplicates} / {drain:.1f} s", lost == 0 and duplicates == 0)
    notes.append(f"{label}: outage {lasted:.0f} s (back-off × {sizes.outage_scale:g}); {reported.created:,} alerts "
                 f"raised in {reported.seconds:.0f} s ({reported.errors} API errors), {refused:,} attempts refused; "
                 f"after it {stats['delivered']:,} delivered in {drain:.1f} s, {stats['posts']:,} POSTs, "
                 f"{lost} lost, {duplicates} duplicates")


def _add_due_deliveries(app, endpoint_id: int, count: int, per_second: float, batch: int = 50) -> None:
    """`count` due deliveries of one alert to the endpoint, `batch` at a time at `per_second`."""
    import sqlalchemy as sa

    from webapp import wakeups
    from webapp.extensions import db
    from webapp.models import Alert, Delivery, Endpoint
    from webapp.timeutil import utcnow

    with app.app_context():
        endpoint = db.session.get(Endpoint, endpoint_id)
        alert = Alert(workspace_id=endpoint.workspace_id, type="run_failed", severity="critical",
                      message="flaky-bench failed: exit code 3")
        db.session.add(alert)
        db.session.commit()
        started = time.monotonic()
        for first in range(0, count, batch):
            time.sleep(max(0.0, started + first / per_second - time.monotonic()))
            db.session.execute(sa.insert(Delivery), [
                {"workspace_id": endpoint.workspace_id, "alert_id": alert.id, "endpoint_id": endpoint_id,
                 "max_attempts": 8, "status": "pending"} for _ in range(min(batch, count - first))])
            db.session.commit()
            wakeups.wake_at(utcnow())  # NOTIFY on PostgreSQL; SQLite's loops poll
        db.session.remove()


def flaky(backend, workdir: Path, sizes: FaultSizes, rows: dict, notes: list) -> None:
    label = backend.label
    receiver = start(fail_share=FAIL_SHARE, hang_seconds=HANG_SECONDS)
    try:
        with deployment(backend, workdir, "flaky", [("flaky-*", receiver.url("/flaky"))], RAISED_LIMITS,
                        timeout_seconds=TIMEOUT_SECONDS) as server:
            began = time.monotonic()
            _add_due_deliveries(server.app, server.endpoint_ids[0], sizes.flaky_deliveries, sizes.flaky_per_second)
            stats = wait_for_deliveries(receiver, sizes.flaky_deliveries, stall_seconds=120)
            took = time.monotonic() - began
            time.sleep(2.0)
            stats, arrived = receiver.stats(), receiver.deliveries()
            database_rows = delivery_rows(server.app)
    finally:
        receiver.stop()
    lost, duplicates = lost_and_duplicates(database_rows, arrived)
    retried = [record[3] - record[0] for record in arrived.values() if record[1] > 1 and record[3] is not None]
    share = 100 * stats["delivered"] / sizes.flaky_deliveries
    p50, p99 = (percentile(retried, 0.5), percentile(retried, 0.99)) if retried else (0.0, 0.0)
    rows["flaky"].cells[label] = Cell(f"{share:.4f} % / {duplicates} / {p50:.1f} s, {p99:.1f} s",
                                      lost == 0 and duplicates == 0)
    notes.append(f"{label}: flaky {stats['delivered']:,} of {sizes.flaky_deliveries:,} delivered ({share:.4f} %) in "
                 f"{took:.0f} s; {stats['posts']:,} attempts, {stats['errors']} × 500, {stats['hangs']} hung past "
                 f"{TIMEOUT_SECONDS} s; {100 * len(retried) / sizes.flaky_deliveries:.2f} % retried, extra latency "
                 f"p50 {p50:.1f} s, p99 {p99:.1f} s, max {max(retried, default=0):.1f} s (real back-off: 10 s, 60 s "
                 f"after a timeout; a second failure doubles it); {lost} lost, "
                 f"{duplicates} duplicates")


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _queue_depth(app) -> int:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Delivery

    with app.app_context():
        depth = db.session.scalar(sa.select(sa.func.count()).where(Delivery.status.in_(("pending", "sending"))))
        db.session.remove()
    return depth


def _log_errors(log_path: Path) -> int:
    text = log_path.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))


def soak(backend, workdir: Path, sizes: FaultSizes, rows: dict, notes: list) -> None:
    label, endpoints = backend.label, sizes.soak_endpoints
    receiver = start(fail_share=FAIL_SHARE, hang_seconds=HANG_SECONDS)
    count = int(sizes.soak_seconds * sizes.soak_per_second)
    warm_up = min(120.0, 0.2 * sizes.soak_seconds)
    routes = [(f"soak-{number:02d}", receiver.url(f"/soak/{number}")) for number in range(endpoints)]
    samples: list[tuple[float, int, list[float]]] = []  # (seconds, queue depth, worker RSS MiB)
    try:
        with deployment(backend, workdir, "soak", routes, {}, timeout_seconds=TIMEOUT_SECONDS) as server:
            result: dict = {}
            load = threading.Thread(target=lambda: result.update(reported=report_failed_runs(
                server.port, server.api_key, count, clients=8, per_second=sizes.soak_per_second,
                job=lambda number: f"soak-{number % endpoints:02d}")), daemon=True)
            began = time.monotonic()
            load.start()
            while load.is_alive():
                load.join(timeout=10.0)
                workers = processes.worker_pids(server.server.pid)
                samples.append((time.monotonic() - began, _queue_depth(server.app),
                                [rss for rss in (_rss_mib(pid) for pid in workers) if rss is not None]))
            reported = result["reported"]
            stats = wait_for_deliveries(receiver, reported.created, stall_seconds=120)
            drained = time.monotonic() - began - reported.seconds
            time.sleep(2.0)
            stats, arrived = receiver.stats(), receiver.deliveries()
            database_rows = delivery_rows(server.app)
            log_errors = _log_errors(server.log_path)
    finally:
        receiver.stop()
    lost, duplicates = lost_and_duplicates(database_rows, arrived)
    warm = next((sample for sample in samples if sample[0] >= warm_up), samples[0])
    end = samples[-1]
    growth = max((last / first - 1) * 100 for first, last in zip(warm[2], end[2], strict=False))
    depths = [depth for _, depth, _ in samples]
    errors = reported.errors + log_errors
    rows["soak"].cells[label] = Cell(f"{growth:+.1f} % / {errors} / {max(depths):,}",
                                     growth < 10 and errors == 0 and lost == 0 and duplicates == 0)
    notes.append(f"{label}: soak {reported.created:,} reports in {reported.seconds:.0f} s "
                 f"({reported.created / reported.seconds:.1f}/s), {reported.errors} API errors, {log_errors} logged "
                 f"errors; worker RSS after {warm[0]:.0f} s " + ", ".join(f"{rss:.0f}" for rss in warm[2])
                 + " MiB, at the end " + ", ".join(f"{rss:.0f}" for rss in end[2]) + " MiB; queue depth "
                 f"(every 10 s) median {sorted(depths)[len(depths) // 2]}, max {max(depths)}, last {depths[-1]}; "
                 f"{stats['posts']:,} attempts, {stats['errors'] + stats['hangs']} failed; drained "
                 f"{drained:.1f} s after the load; {lost} lost, {duplicates} duplicates")
