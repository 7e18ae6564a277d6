"""Fault scenario "lost host": two Tocsin hosts (gunicorn + scheduler each) share one PostgreSQL;
host A's link is cut while it holds leased deliveries in flight, and host B must take them over
when the leases expire. Counted at the receiver: nothing lost, and duplicates only for attempts
A had in flight at the cut (same webhook-id).

Everything runs in network namespaces made here (tests/support/netns.py): "core" holds a
throw-away PostgreSQL cluster and the slow receiver, hosts A and B each have a veth link to
core. `run(sizes)` is shared by tests/operations/test_lost_host.py (small) and `make bench`
(BENCH_ONLY=lost_host, larger); `python -m bench.faults_lost_host` runs the larger one alone.
"""
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import requests

from bench import lost_host_count
from tests.support import netns, netns_postgres
from tests.support.netns_receiver import SlowReceiver

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST_PORT = 8000


@dataclass(frozen=True)
class Sizes:
    reports: int = 24  # failed runs reported to host A, one alert (one delivery) each
    report_clients: int = 6
    receiver_delay: float = 2.0  # seconds per request: A's attempts stay in flight
    endpoint_timeout: int = 3  # lease = 2 × 3 + margin
    lease_margin: float = 1.0
    workers: int = 1  # gunicorn workers per host, each with its scheduler and 8 send threads
    drain_timeout: float = 40.0
    # Also strand a claim transaction of A's (the claim lock and its leased rows locked) at the cut,
    # as when the link goes while A is between a claim's statements and its COMMIT.
    stranded_claim: bool = False


TEST = Sizes(stranded_claim=True)  # both faults at once: ~25 s here, ≤ 45 s on a busy machine
BENCH = Sizes(reports=300, report_clients=8, workers=2, drain_timeout=120.0)


def unavailable_reason() -> str | None:
    """Why the scenario cannot run on this machine (no namespaces, no initdb/pg_ctl), or None."""
    return netns.unavailable_reason() or netns_postgres.unavailable_reason()


def run(sizes: Sizes = TEST, say=lambda message: None) -> lost_host_count.Outcome:
    """Build the namespaces, the cluster, the receiver and both hosts; report, cut, count;
    take everything down again, also on failure."""
    netns.remove_stale()
    netns_postgres.remove_stale_directories()
    workdir = Path(tempfile.mkdtemp(prefix="tocsinlh-run-"))
    network, cluster, receiver, hosts, app, stranded = netns.Network(), None, None, [], None, None
    try:
        network.open()
        host_a, host_b = network.add_host("a"), network.add_host("b")
        cluster = netns_postgres.NamespacedCluster(network.core, network.core_address).start()
        say("PostgreSQL started in core")
        receiver = SlowReceiver(network.core, network.core_address, sizes.receiver_delay)
        secret_key = secrets.token_urlsafe(48)
        _migrate(cluster.socket_url, secret_key, workdir)
        app = _app(cluster.socket_url, secret_key)
        api_key = lost_host_count.seed(app, receiver.url, sizes.endpoint_timeout)
        say("namespaces, PostgreSQL and receiver ready; starting hosts A and B")
        hosts = [_start_host(network, host, cluster.host_url, secret_key, sizes, workdir) for host in (host_a, host_b)]
        for host, process in zip((host_a, host_b), hosts, strict=True):
            _wait_until_serving(host, process, workdir)
        lost_host_count.wait_for_schedulers(app, 2 * sizes.workers)

        say("both hosts serving, their schedulers beating")
        answered = _report_failed_runs(host_a, api_key, sizes)
        say(f"A answered {len(answered)} reports 201; senders so far {receiver.senders()}")
        _wait_until_holding(receiver, host_a.address, sizes)
        time.sleep(sizes.receiver_delay / 2)  # mid-request: answers are on their way back
        stranded = _open_claim_transaction(host_a, cluster.host_url, secret_key, sizes) if sizes.stranded_claim else None
        cut_at = time.time()
        network.cut("a")
        say(f"cut host A with {receiver.open_from(host_a.address)} of its requests open at the receiver; "
            f"senders so far {receiver.senders()}")
        time.sleep(0.3)  # A can commit nothing more; read what it held
        held = lost_host_count.held_leases(app, host_a.address)
        lost_host_count.wait_until_drained(app, receiver, sizes.drain_timeout)
        return lost_host_count.count(app, receiver, answered, held, cut_at, host_a.address, host_b.address,
                                     lease_seconds=2 * sizes.endpoint_timeout + sizes.lease_margin)
    except Exception:
        logs = "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                         for path in sorted(workdir.glob("*.log")))
        sys.stderr.write(f"[lost_host] failed; logs:\n{logs}\n" + (cluster.log()[-2000:] if cluster else ""))
        raise
    finally:
        if app is not None:
            lost_host_count.dispose(app)
        if stranded is not None:
            _close_stranded(stranded)
        for process in hosts:
            _stop(process)
        if receiver is not None:
            receiver.stop()
        if cluster is not None:
            cluster.close()
        network.close()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def _environment(database_url: str, secret_key: str, extra: dict) -> dict:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("TOCSIN_", "GUNICORN_", "PROMETHEUS_"))}
    environment.update(DATABASE_URL=database_url, SECRET_KEY=secret_key, TOCSIN_ENV="production",
                       TOCSIN_ENCRYPTION_KEY="", PYTHONUNBUFFERED="1", **extra)
    return environment


def _migrate(socket_url: str, secret_key: str, workdir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                            env=_environment(socket_url, secret_key, {}), capture_output=True, text=True, timeout=180)
    (workdir / "migrate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stderr[-2000:]}")


def _app(socket_url: str, secret_key: str, **overrides):
    """The scenario's own app (seeding, counting), on the cluster's Unix socket."""
    from webapp import create_app
    from webapp.config import normalise_database_url

    return create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(socket_url), "SECRET_KEY": secret_key,
                       "TOCSIN_ENV": "production", "TOCSIN_SCHEDULER": False, "TOCSIN_ENCRYPTION_KEY": "",
                       "TOCSIN_METRICS_TOKEN": "", "TOCSIN_API_CACHE": False, **overrides})


def _open_claim_transaction(host, database_url: str, secret_key: str, sizes: Sizes):
    """A connection of host A's (its socket inside A's namespace, set up as Tocsin sets up its
    engine) that opened a claim transaction — the claim lock, then the leased rows locked as the
    claim's UPDATE locks them — and has not committed. Returns (app, connection)."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Delivery
    from webapp.services.delivery import claims

    app = _app(database_url, secret_key, TOCSIN_LEASE_MARGIN=sizes.lease_margin)
    with netns.inside(host.namespace), app.app_context():
        connection = db.engine.connect()
        claims.take_claim_lock(connection)
        connection.execute(sa.select(Delivery.id).where(Delivery.status == "sending").with_for_update())
    return app, connection


def _close_stranded(stranded) -> None:
    """Drop the stranded connection without a ROLLBACK (its link is gone: that would wait for ever)."""
    app, connection = stranded
    connection.invalidate()
    lost_host_count.dispose(app)


def _start_host(network, host, database_url: str, secret_key: str, sizes: Sizes, workdir: Path) -> subprocess.Popen:
    environment = _environment(database_url, secret_key, {
        "TOCSIN_SCHEDULER": "on", "TOCSIN_ALLOWED_NETWORKS": netns.SUBNET,
        "TOCSIN_BASE_URL": f"http://{host.address}:{HOST_PORT}", "TOCSIN_LEASE_MARGIN": str(sizes.lease_margin),
        "TOCSIN_ENDPOINT_CONCURRENCY": "100", "TOCSIN_ENDPOINT_RATE": "1000",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{host.name}")})
    command = network.command(host.namespace, [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"{host.address}:{HOST_PORT}",
        "--workers", str(sizes.workers), "--threads", "4", "wsgi:app"])
    with open(workdir / f"host-{host.name}.log", "ab") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=log,
                                start_new_session=True)


def _wait_until_serving(host, process: subprocess.Popen, workdir: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    with netns.inside(host.namespace):
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if requests.get(f"http://{host.address}:{HOST_PORT}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"host {host.name} did not serve /healthz within {timeout:g} s; see {workdir}")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, 9)  # its own session: the master and its workers, by id
    except ProcessLookupError:
        pass
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _report_failed_runs(host, api_key: str, sizes: Sizes) -> list[int]:
    """Report `sizes.reports` failed runs (distinct jobs) to `host`, from inside its namespace;
    returns the ids of the runs it answered 201."""
    def client(numbers: range) -> list[int]:
        answered = []
        with netns.inside(host.namespace), requests.Session() as session:
            for number in numbers:
                response = session.post(f"http://{host.address}:{HOST_PORT}/api/v1/runs", timeout=15,
                                        headers={"Authorization": f"Bearer {api_key}"},
                                        json={"job": f"lost-host-{number:04d}", "status": "failed",
                                              "duration_ms": 1200, "message": "exit code 3"})
                if response.status_code == 201:
                    answered.append(response.json()["id"])
        return answered

    shares = [range(start, sizes.reports, sizes.report_clients) for start in range(sizes.report_clients)]
    with ThreadPoolExecutor(sizes.report_clients) as executor:
        return [run_id for ids in executor.map(client, shares) for run_id in ids]


def _wait_until_holding(receiver: SlowReceiver, address: str, sizes: Sizes, timeout: float = 10.0) -> None:
    """Until host A has its send threads' worth of requests open at the receiver (or a few, after `timeout`)."""
    wanted = min(sizes.reports, 8 * sizes.workers)
    deadline = time.monotonic() + timeout
    while receiver.open_from(address) < wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    if receiver.open_from(address) == 0:
        raise RuntimeError("host A never had a request open at the receiver: nothing to cut")


def bench_notes() -> list[str]:
    """`make bench` (BENCH_ONLY=lost_host): the larger run, plain and with a stranded claim."""
    reason = unavailable_reason()
    if reason:
        return [f"lost host: skipped ({reason})"]
    say = lambda message: print(f"[lost_host] {message}", file=sys.stderr, flush=True)  # noqa: E731
    return [run(sizes, say=say).line() for sizes in (BENCH, replace(BENCH, stranded_claim=True))]


if __name__ == "__main__":
    print("\n".join(bench_notes()))
