"""The machine's own ceilings, measured in the same `make bench` run (issue 18, point 5).

Machines of the same kind differ by up to 45 %, so each throughput is also printed as a share
of what this machine can do at all: deliveries/s against keep-alive POSTs/s from one Python
process to the loopback receiver (requests.Session, the sender Tocsin uses, a body the size of
an alert's), ingestion/s against one-INSERT commits/s (SQLite in WAL with synchronous=NORMAL as
Tocsin sets it; PostgreSQL through psycopg), plus PostgreSQL's SELECT 1 round trip.
"""
import json
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import database, processes
from bench.report import Cell, Row

SECONDS = 3.0
# Which ceiling each throughput row of the table is judged against.
POSTS, COMMITS = "posts", "commits"
RATE_ROWS = {"throughput": POSTS, "ingest": COMMITS, "e2e_deliveries": POSTS, "e2e_reports": COMMITS}


@dataclass
class Ceilings:
    posts_per_second: float
    commits_per_second: dict[str, float]  # database label -> one-INSERT commits/s
    select_ms: float | None = None  # PostgreSQL SELECT 1, median


def alert_body() -> bytes:
    """A `json`-format alert as DESIGN.md shows it (~800 bytes), for a request of the right size."""
    stamp = "2026-11-24T09:00:00.123456Z"
    return json.dumps({"type": "alert.fired", "timestamp": stamp, "data": {
        "alert": {"id": "12345", "type": "run_failed", "severity": "critical",
                  "message": "e2e-3 failed after 4 s: exit code 3", "repeat_count": 1, "created_at": stamp,
                  "url": "http://127.0.0.1:8000/alerts/12345"},
        "rule": {"id": "7", "name": "every failed e2e run"}, "job": {"slug": "e2e-3", "name": "e2e-3"},
        "run": {"id": "123456", "external_id": "e2e-3-117", "status": "failed", "started_at": stamp,
                "finished_at": stamp, "deadline_at": None, "duration_ms": 4200},
        "workspace": {"id": "2", "name": "end-to-end benchmark"}}}, separators=(",", ":")).encode()


def posts_per_second(receiver_port: int, seconds: float = SECONDS) -> float:
    """One thread, one requests.Session (keep-alive), POSTs of an alert's size and headers."""
    body = alert_body()
    headers = {"content-type": "application/json", "user-agent": "Tocsin/ceiling", "webhook-id": "msg_1234567",
               "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1," + "A" * 44,
               "x-tocsin-event": "alert.fired", "x-tocsin-alert-type": "run_failed", "x-tocsin-alert-id": "12345"}
    url = f"http://127.0.0.1:{receiver_port}/ceiling/posts"
    with requests.Session() as session:
        session.post(url, data=body, headers=headers, timeout=10)  # connect outside the timing
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            session.post(url, data=body, headers=headers, timeout=10).raise_for_status()
            count += 1
    return count / elapsed


def sqlite_commits_per_second(seconds: float = SECONDS) -> float:
    with tempfile.TemporaryDirectory(prefix="tocsin-ceiling-") as directory:
        connection = sqlite3.connect(Path(directory) / "ceiling.db", isolation_level=None)
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
                connection.execute(f"PRAGMA {pragma}")
            connection.execute("CREATE TABLE row (id INTEGER PRIMARY KEY, at TEXT, value TEXT)")
            return _commits(lambda: (connection.execute("BEGIN"),
                                     connection.execute("INSERT INTO row (at, value) VALUES (?, ?)",
                                                        ("2026-11-24 09:00:00.000000", "x" * 40)),
                                     connection.execute("COMMIT")), seconds)
        finally:
            connection.close()


def postgres_figures(postgres_url: str, seconds: float = SECONDS) -> tuple[float, float]:
    """(SELECT 1 median ms, one-INSERT commits/s) on one psycopg connection, in a fresh schema."""
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as workdir, database.backend("ceiling", Path(workdir), postgres_url) as backend:
        engine = sa.create_engine(database._normalise(backend.url))
        try:
            raw = engine.raw_connection()
            cursor = raw.cursor()
            cursor.execute("CREATE TABLE ceiling_row (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ, value TEXT)")
            raw.commit()
            raw.dbapi_connection.autocommit = True
            timings = []
            for _ in range(2000):
                started = time.perf_counter()
                cursor.execute("SELECT 1").fetchone()
                timings.append(time.perf_counter() - started)
            commits = _commits(lambda: cursor.execute("INSERT INTO ceiling_row (at, value) VALUES (now(), %s)",
                                                      ("x" * 40,)), seconds)  # autocommit: one commit each
            raw.close()
        finally:
            engine.dispose()
    return statistics.median(timings) * 1000, commits


def _commits(one_commit, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        one_commit()
        count += 1
    return count / elapsed


def measure(postgres_url: str | None) -> Ceilings:
    """Every ceiling, with a receiver of its own (the same program the suites use)."""
    with tempfile.TemporaryDirectory(prefix="tocsin-ceiling-") as workdir:
        receiver, port = processes.start_receiver(Path(workdir))
        try:
            posts = posts_per_second(port)
        finally:
            processes.stop(receiver)
    ceilings = Ceilings(posts, {"SQLite": sqlite_commits_per_second()})
    if postgres_url:
        ceilings.select_ms, ceilings.commits_per_second["PostgreSQL"] = postgres_figures(postgres_url)
    return ceilings


def annotate(rows: dict[str, Row], ceilings: Ceilings) -> None:
    """Add the ceilings' rows, and each throughput's share of its ceiling to its cell."""
    posts = Row("Ceiling: keep-alive POSTs/s, one process (requests)", "—",
                {label: Cell(f"{ceilings.posts_per_second:,.0f}/s") for label in ceilings.commits_per_second})
    commits = Row("Ceiling: one-INSERT commits/s, one connection", "—",
                  {label: Cell(f"{rate:,.0f}/s") for label, rate in ceilings.commits_per_second.items()})
    if ceilings.select_ms is not None:
        commits.cells["PostgreSQL"].text += f" (SELECT 1: {ceilings.select_ms:.2f} ms)"
    for key, row in rows.items():
        for label, cell in row.cells.items():
            if key in RATE_ROWS and cell.rate is not None:
                ceiling = ceilings.posts_per_second if RATE_ROWS[key] == POSTS else ceilings.commits_per_second[label]
                cell.text += f" ({cell.rate / ceiling:.0%} of ceiling)"
    rows.update(ceiling_posts=posts, ceiling_commits=commits)
