"""The measurements taken against the running gunicorn server: alert-to-first-attempt latency,
run ingestion through the API, and sustained delivery throughput with the workers' peak memory.

Times that cross processes (the load generator, the receiver) are unix times from one clock,
`time.time()`, on one machine.
"""
import json
import math
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import bulk, load, processes
from bench.database import Seed


def receiver_get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0–1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Latency:
    p50: float
    p95: float
    p99: float
    maximum: float
    matched: int
    reported: int
    errors: int
    first_error: str | None


def alert_latency(server_port: int, receiver_port: int, seed: Seed, count: int, per_second: float) -> Latency:
    """Report `count` failed runs through the API; latency = the request's start to the
    receiver's arrival of that run's first webhook (matched by the payload's run external id)."""
    result, started_at = load.report_failed_runs(server_port, seed.api_key, count, per_second, seed.latency_jobs)
    deadline = time.monotonic() + 30
    arrivals = receiver_get(receiver_port, "/latency")
    while len(set(started_at) & set(arrivals)) < len(started_at) and time.monotonic() < deadline:
        time.sleep(0.25)
        arrivals = receiver_get(receiver_port, "/latency")
    latencies = [(arrivals[key] - started) * 1000 for key, started in started_at.items() if key in arrivals]
    if not latencies:
        raise RuntimeError(f"no webhook arrived for the {count} failed runs ({result.first_error})")
    return Latency(percentile(latencies, 0.50), percentile(latencies, 0.95), percentile(latencies, 0.99),
                   max(latencies), len(latencies), result.completed, result.errors, result.first_error)


@dataclass
class Throughput:
    delivered: int
    expected: int
    per_second: float  # first to last arrival at the receiver
    end_to_end_per_second: float  # from the bulk insert's commit to the last arrival
    peak_rss_mib: list[float]


def delivery_throughput(engine, seed: Seed, count: int, receiver_port: int, master_pid: int,
                        announce=None) -> Throughput:
    """Insert `count` due deliveries at once and count at the receiver while the server's
    schedulers drain them; also read the workers' peak RSS (VmHWM) before they stop.
    `announce()` tells the schedulers they are due, as Tocsin's own writers do (`wake_at`)."""
    before = receiver_get(receiver_port, "/stats")["buckets"].get("tp", {}).get("count", 0)
    bulk.due_deliveries(engine, datetime.now(UTC), workspace_id=seed.workspace_id, rule_id=seed.throughput_rule_id,
                        job_id=seed.throughput_job_id, endpoint_ids=seed.throughput_endpoint_ids, count=count)
    committed = time.time()
    if announce is not None:
        announce()
    delivered, progress_at = 0, time.monotonic()
    bucket: dict = {}
    while delivered < count and time.monotonic() - progress_at < 30:
        time.sleep(0.25)
        bucket = receiver_get(receiver_port, "/stats")["buckets"].get("tp", {})
        if bucket.get("count", 0) - before > delivered:
            delivered, progress_at = bucket["count"] - before, time.monotonic()
    workers = processes.worker_pids(master_pid)
    peaks = [peak for peak in (processes.peak_rss_mib(pid) for pid in workers) if peak is not None]
    if not delivered:
        raise RuntimeError("no delivery of the throughput run reached the receiver within 30 s")
    span = max(1e-6, bucket["last"] - bucket["first"])
    return Throughput(delivered, count, delivered / span, delivered / max(1e-6, bucket["last"] - committed), peaks)


def ingestion(server_port: int, api_key: str, clients: int, seconds: float) -> load.LoadResult:
    return load.ingest(server_port, api_key, clients, seconds)
