"""`make bench` (`python -m bench`): Tocsin measured against its issue-6 and issue-15 targets.

For each database (SQLite in a temporary directory; PostgreSQL in a fresh schema when
BENCH_DATABASE_URL is set, dropped afterwards) it migrates with `flask --app wsgi db upgrade`,
starts a loopback receiver and gunicorn (2 workers, TOCSIN_SCHEDULER=on) on free 127.0.0.1
ports, measures, stops everything it started, and prints one table. BENCH_QUICK=1 shrinks every
size about tenfold for a smoke run. Nothing leaves 127.0.0.1.
"""
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import (
    ceilings,
    database,
    deadlines,
    end_to_end,
    faults_database,
    faults_receiver,
    processes,
    scale,
    server_runs,
)
from bench.report import Cell, Row, machine, table


@dataclass(frozen=True)
class Sizes:
    failed_runs: int = 2_000
    failed_runs_per_second: float = 40.0
    latency_jobs: int = 20  # one endpoint each: 2 alerts/s per endpoint, far below its rate limit
    deliveries: int = 20_000
    throughput_endpoints: int = 100  # 10 attempts/s each by default (TOCSIN_ENDPOINT_RATE)
    ingest_clients: int = 10
    ingest_seconds: float = 15.0
    sweep_runs: int = 1_000_000
    sweep_due: int = 1_000
    history_deliveries: int = 1_000_000
    deadline_runs: int = 300
    burst_alerts: int = 40  # to one endpoint: four seconds of its rate limit
    retries: int = 200


QUICK = Sizes(failed_runs=200, deliveries=2_000, ingest_seconds=3.0, sweep_runs=100_000, sweep_due=100,
              history_deliveries=100_000, deadline_runs=60, burst_alerts=20, retries=40)


MEASUREMENTS = ("latency", "ingest", "throughput", "sweep", "history", "deadlines", "end_to_end", "ceilings",
                *faults_receiver.SCENARIOS)


def _wanted(name: str) -> bool:
    """BENCH_ONLY=throughput,sweep runs just those measurements (while working on one target)."""
    only = [part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()]
    return not only or name in only


def _count(number: int) -> str:
    return f"{number:,}"


def make_rows(sizes: Sizes) -> dict[str, Row]:
    return {
        "latency": Row(f"Alert → first attempt p50 / p95 / p99 ({_count(sizes.failed_runs)} failed runs)",
                       "p99 < 100 ms"),
        "throughput": Row(f"Sustained deliveries ({_count(sizes.deliveries)})", "≥ 500/s"),
        "ingest": Row(f"Run ingestion, {sizes.ingest_clients} clients ({sizes.ingest_seconds:g} s)", "≥ 1,000/s"),
        "sweep": Row(f"Deadline sweep, {_count(sizes.sweep_runs)} runs / {_count(sizes.sweep_due)} due",
                     "< 50 ms database"),
        "history_first": Row(f"History first page, {_count(sizes.history_deliveries)} deliveries", "< 100 ms server"),
        "history_deep": Row("History deep page in a filter (worst case)", "< 100 ms server"),
        "rss": Row("Peak RSS of a gunicorn worker (delivery run)", "—"),
        "deadline": Row(f"Deadline alert − deadline p50 / p95 / p99 ({_count(sizes.deadline_runs)} runs)",
                        "p99 < 1 s"),
        "burst": Row(f"Rate-limited burst: arrival − free slot ({sizes.burst_alerts} alerts, one endpoint)",
                     "p99 < 250 ms"),
        "retry": Row(f"Retry: arrival − next_attempt_at ({_count(sizes.retries)} retries)", "p99 < 250 ms"),
    }


def run_suite(label: str, postgres_url: str | None, sizes: Sizes, rows: dict[str, Row], notes: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    failed = True
    try:
        with database.backend(label, workdir, postgres_url) as backend:
            _measure(backend, workdir, sizes, rows, notes)
        faults_receiver.run(label, postgres_url, workdir, sizes == QUICK, rows, notes, _wanted)
        failed = False
    finally:
        if failed:
            print(f"[bench] {label}: failed; logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _measure_latency(port, receiver_port, seed, sizes: Sizes, label: str, rows, notes) -> None:
    _say(f"{label}: alert latency over {sizes.failed_runs} failed runs")
    latency = server_runs.alert_latency(port, receiver_port, seed, sizes.failed_runs, sizes.failed_runs_per_second)
    rows["latency"].cells[label] = Cell(f"{latency.p50:.0f} / {latency.p95:.0f} / {latency.p99:.0f} ms",
                                        latency.p99 < 100)
    notes.append(f"{label}: latency max {latency.maximum:.0f} ms; {latency.matched} of {latency.reported} "
                 f"alerts matched at the receiver; {latency.errors} API errors"
                 + (f" (first: {latency.first_error})" if latency.first_error else ""))


def _measure_ingest(port, seed, sizes: Sizes, label: str, rows, notes) -> None:
    _say(f"{label}: ingestion, {sizes.ingest_clients} clients for {sizes.ingest_seconds:g} s")
    ingest = server_runs.ingestion(port, seed.api_key, sizes.ingest_clients, sizes.ingest_seconds)
    rows["ingest"].cells[label] = Cell(f"{ingest.per_second:,.0f}/s", ingest.per_second >= 1000,
                                       ingest.per_second)
    notes.append(f"{label}: ingestion {ingest.completed:,} runs in {ingest.seconds:g} s, {ingest.errors} errors"
                 + (f" (first: {ingest.first_error})" if ingest.first_error else ""))


def _announce_due(app) -> None:
    """Wake the server's schedulers for rows the benchmark wrote itself (NOTIFY on PostgreSQL;
    SQLite's schedulers see them within their 0.5 s poll)."""
    from webapp import wakeups
    from webapp.timeutil import utcnow

    with app.app_context():
        wakeups.wake_at(utcnow())


def _measure_wakeups(app, env, workdir, port, receiver_port, seed, sizes: Sizes, label: str, rows, notes) -> None:
    """Deadline alerts, a rate-limited burst and retries: how late after their moment they arrive."""
    wakeup_seed = deadlines.seed_wakeups(app, receiver_port)
    server = processes.start_gunicorn(env, workdir, "wakeups")
    try:
        _say(f"{label}: {sizes.deadline_runs} deadlines")
        deadline = deadlines.deadline_lateness(port, receiver_port, seed.api_key, wakeup_seed, sizes.deadline_runs)
        _say(f"{label}: a burst of {sizes.burst_alerts} alerts to one endpoint")
        burst = deadlines.burst_lateness(port, receiver_port, seed.api_key, sizes.burst_alerts)
        _say(f"{label}: {sizes.retries} retries")
        retry = deadlines.retry_lateness(app, port, receiver_port, seed.api_key, wakeup_seed, sizes.retries)
    finally:
        processes.stop(server)
    for key, lateness, limit_ms in (("deadline", deadline, 1000), ("burst", burst, 250), ("retry", retry, 250)):
        rows[key].cells[label] = Cell(lateness.text(), lateness.p99 < limit_ms and lateness.matched == lateness.expected)
        notes.append(f"{label}: {key} lateness max {lateness.maximum:.0f} ms; {lateness.matched} of "
                     f"{lateness.expected} arrived; {lateness.errors} API errors"
                     + (f" (first: {lateness.first_error})" if lateness.first_error else ""))


def _measure(backend: database.Backend, workdir: Path, sizes: Sizes, rows: dict[str, Row], notes: list[str]) -> None:
    label = backend.label
    receiver, receiver_port = processes.start_receiver(workdir)
    secret_key, port = database.new_secret_key(), processes.free_port()
    env = processes.server_env(backend.url, secret_key, port, {"TOCSIN_SCHEDULER": "on"})
    app = None
    try:
        _say(f"{label}: migrating")
        processes.migrate(env, workdir)
        app = database.make_app(backend, secret_key)
        seed = database.seed(app, receiver_port, sizes.latency_jobs, sizes.throughput_endpoints)

        if _wanted("latency") or _wanted("ingest"):
            server = processes.start_gunicorn(env, workdir, "api")
            try:
                if _wanted("latency"):
                    _measure_latency(port, receiver_port, seed, sizes, label, rows, notes)
                if _wanted("ingest"):
                    _measure_ingest(port, seed, sizes, label, rows, notes)
            finally:
                processes.stop(server)

        if _wanted("throughput"):
            server = processes.start_gunicorn(env, workdir, "delivery")  # fresh workers: their peak RSS is this run's
            try:
                _say(f"{label}: {sizes.deliveries} deliveries")
                with app.app_context():
                    from webapp.extensions import db

                    engine = db.engine
                throughput = server_runs.delivery_throughput(engine, seed, sizes.deliveries, receiver_port, server.pid,
                                                             announce=lambda: _announce_due(app))
            finally:
                processes.stop(server)
            rows["throughput"].cells[label] = Cell(f"{throughput.per_second:,.0f}/s", throughput.per_second >= 500,
                                                   throughput.per_second)
            notes.append(f"{label}: {throughput.delivered:,} of {throughput.expected:,} deliveries arrived; "
                         f"{throughput.end_to_end_per_second:,.0f}/s counted from the insert's commit")
            rows["rss"].cells[label] = Cell(" / ".join(f"{peak:.0f}" for peak in throughput.peak_rss_mib) + " MiB")

        if _wanted("end_to_end"):
            end_to_end.measure(app, env, workdir, receiver, receiver_port, label, rows, notes)
        if _wanted("deadlines"):
            _measure_wakeups(app, env, workdir, port, receiver_port, seed, sizes, label, rows, notes)

        if _wanted("sweep") or _wanted("history"):
            database.seed_bulk_owners(app, seed, receiver_port)
        if _wanted("sweep"):
            _say(f"{label}: inserting {sizes.sweep_runs:,} runs and sweeping")
            sweep = scale.deadline_sweep(app, seed, sizes.sweep_runs, sizes.sweep_due)
            rows["sweep"].cells[label] = Cell(f"{sweep.database_ms:.0f} ms (find {sweep.find_ms:.1f} ms)",
                                              sweep.database_ms < 50)
            notes.append(f"{label}: sweep timed out {sweep.timed_out} of {sweep.due} due runs in {sweep.statements} "
                         f"statements and {sweep.commits} commits, {sweep.wall_ms:.0f} ms wall; {sweep.runs:,} runs inserted in "
                         f"{sweep.insert_seconds:.0f} s")
        if _wanted("history"):
            _say(f"{label}: inserting {sizes.history_deliveries:,} deliveries and reading history pages")
            history = scale.delivery_history(app, seed, sizes.history_deliveries)
            first, deep = history.timings[0], history.timings[1:]
            worst = max(deep, key=lambda timing: timing.page_ms)
            rows["history_first"].cells[label] = Cell(f"{first.page_ms:.0f} ms (query {first.service_ms:.0f} ms)",
                                                      first.page_ms < 100)
            rows["history_deep"].cells[label] = Cell(f"{worst.page_ms:.0f} ms (query {worst.service_ms:.0f} ms)",
                                                     worst.page_ms < 100)
            notes.append(f"{label}: history " + "; ".join(
                f"{timing.case}: page {timing.page_ms:.1f} ms, list_deliveries {timing.service_ms:.1f} ms"
                for timing in history.timings) + f"; {history.deliveries:,} deliveries inserted in "
                f"{history.insert_seconds:.0f} s")
    finally:
        if app is not None:
            with app.app_context():
                from webapp.extensions import db

                db.session.remove()
                db.engine.dispose()
        processes.stop(receiver)


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    sizes = QUICK if quick else Sizes()
    postgres_url = os.environ.get("BENCH_DATABASE_URL") or None
    processes.install_signal_handlers()
    rows, notes = {**make_rows(sizes), **faults_receiver.make_rows(quick)}, []
    databases = ["SQLite"] + (["PostgreSQL"] if postgres_url else [])
    started = time.monotonic()
    rows.update(end_to_end.make_rows() if _wanted("end_to_end") else {})
    try:
        machine_ceilings = ceilings.measure(postgres_url) if _wanted("ceilings") else None
        if any(_wanted(name) for name in MEASUREMENTS if name != "ceilings"):
            run_suite("SQLite", None, sizes, rows, notes)
            if postgres_url:
                run_suite("PostgreSQL", postgres_url, sizes, rows, notes)
        if _wanted("lost_host"):
            from bench import faults_lost_host  # its own namespaces and PostgreSQL cluster
            notes.extend(faults_lost_host.bench_notes())
        if _wanted("db_restart"):
            notes.append(faults_database.measure(quick))
    finally:
        processes.stop_all()
    if machine_ceilings is not None:
        ceilings.annotate(rows, machine_ceilings)
    print(f"\nTocsin benchmark{' (BENCH_QUICK: sizes / 10)' if quick else ''} — {machine()}; "
          f"gunicorn 2 workers, TOCSIN_SCHEDULER=on; {time.monotonic() - started:.0f} s\n")
    print(table(list(rows.values()), databases))
    print("\n" + "\n".join(f"- {note}" for note in notes))
    missed = [f"{row.label} ({name})" for row in rows.values() for name, cell in row.cells.items()
              if cell.passed is False]
    print("\nAll targets met." if not missed else "\nMissed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
