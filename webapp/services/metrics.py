"""Prometheus metrics. Counters and histograms are recorded where things happen; queue depths
are read from the database at scrape time (correct across processes and hosts).

Under gunicorn, `gunicorn.conf.py` sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client, so every worker's samples are merged at scrape time (multi-process mode).
"""
import os

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from webapp.extensions import db
from webapp.timeutil import utcnow

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

DELIVERIES_FINISHED = Counter("tocsin_deliveries_finished_total", "Deliveries that reached a final status.",
                              ["status"])
ATTEMPTS = Counter("tocsin_delivery_attempts_total", "HTTP delivery attempts by outcome class.", ["outcome"])
ATTEMPT_LATENCY = Histogram("tocsin_delivery_attempt_seconds", "Duration of one delivery attempt.",
                            buckets=LATENCY_BUCKETS)
ALERT_TO_FIRST_ATTEMPT = Histogram("tocsin_alert_to_first_attempt_seconds",
                                   "Time from an alert being raised to its delivery's first attempt starting.",
                                   buckets=LATENCY_BUCKETS)
SWEEP_DURATION = Histogram("tocsin_deadline_sweep_seconds", "Duration of one deadline sweep.",
                           buckets=LATENCY_BUCKETS)
RUNS_INGESTED = Counter("tocsin_runs_ingested_total", "Run reports accepted through the API.", ["kind"])


def record_attempt(outcome: str, duration_ms: int | None, first_attempt_delay_seconds: float | None = None) -> None:
    ATTEMPTS.labels(outcome=outcome).inc()
    if duration_ms is not None:
        ATTEMPT_LATENCY.observe(duration_ms / 1000)
    if first_attempt_delay_seconds is not None:
        ALERT_TO_FIRST_ATTEMPT.observe(max(first_attempt_delay_seconds, 0.0))


def record_final_status(status: str) -> None:
    DELIVERIES_FINISHED.labels(status=status).inc()


def record_sweep(seconds: float) -> None:
    SWEEP_DURATION.observe(seconds)


def record_run_ingested(kind: str) -> None:
    RUNS_INGESTED.labels(kind=kind).inc()


class QueueCollector:
    """Queue depth and the age of the oldest due delivery, read from the database per scrape."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from webapp.models import Delivery

        with self.app.app_context():
            try:
                rows = db.session.execute(
                    sa.select(Delivery.status, Delivery.attempt_count > 0, sa.func.count())
                    .where(Delivery.status.in_(("pending", "sending")))
                    .group_by(Delivery.status, Delivery.attempt_count > 0)
                ).all()
                oldest_due = db.session.scalar(
                    sa.select(Delivery.next_attempt_at).where(Delivery.status == "pending",
                                                              Delivery.next_attempt_at <= utcnow())
                    .order_by(Delivery.next_attempt_at).limit(1))
            finally:
                db.session.remove()
        depth = GaugeMetricFamily("tocsin_delivery_queue_depth", "Deliveries waiting or in flight.",
                                  labels=["state"])
        counts = {"pending": 0, "retrying": 0, "sending": 0}
        for status, retried, count in rows:
            if status == "sending":
                counts["sending"] += count
            counts["retrying" if retried else "pending"] += count if status == "pending" else 0
        for state, count in counts.items():
            depth.add_metric([state], count)
        yield depth
        age = GaugeMetricFamily("tocsin_oldest_due_delivery_age_seconds",
                                "How long the oldest due delivery has been waiting (0 when none).")
        age.add_metric([], (utcnow() - oldest_due).total_seconds() if oldest_due else 0.0)
        yield age


def render_metrics(app) -> bytes:
    """The text exposition: all processes' samples (multi-process mode) plus queue gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (DELIVERIES_FINISHED, ATTEMPTS, ATTEMPT_LATENCY, ALERT_TO_FIRST_ATTEMPT,
                          SWEEP_DURATION, RUNS_INGESTED):
            registry.register(collector)
    registry.register(QueueCollector(app))
    return generate_latest(registry)
