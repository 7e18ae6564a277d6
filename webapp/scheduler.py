"""APScheduler wiring only: which job runs how often. The work itself lives in services."""
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from webapp.extensions import db
from webapp.services.alerting import sweeps
from webapp.services.delivery import jobs as engine_jobs
from webapp.services.delivery import pool
from webapp.timeutil import utcnow

log = logging.getLogger(__name__)


def _in_app_context(app: Flask, function):
    """Run a job inside its own app context and always release the session (thread safety)."""
    def run():
        with app.app_context():
            try:
                function(app)
            except Exception:
                log.exception("scheduler job %s failed", function.__name__)
                db.session.rollback()
            finally:
                db.session.remove()
    run.__name__ = function.__name__
    return run


def _jobs(config) -> tuple:
    """(job id, the service function it runs, its interval in seconds)."""
    return (
        ("heartbeat", engine_jobs.record_heartbeat, config["TOCSIN_HEARTBEAT_INTERVAL"]),
        ("retry_due_deliveries", engine_jobs.retry_due_deliveries, config["TOCSIN_RETRY_INTERVAL"]),
        ("sweep_deadlines", sweeps.sweep_deadlines, config["TOCSIN_SWEEP_INTERVAL"]),
        ("prune_history", engine_jobs.prune_history, config["TOCSIN_PRUNE_INTERVAL"]),
    )


def build_scheduler(app: Flask) -> BackgroundScheduler:
    # APScheduler logs every job run at INFO (every 2 s): keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for job_id, function, seconds in _jobs(app.config):
        scheduler.add_job(_in_app_context(app, function), "interval", seconds=seconds,
                          id=job_id, name=job_id, next_run_time=utcnow())
    return scheduler


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the background scheduler in this process (call after any fork)."""
    scheduler = build_scheduler(app)
    scheduler.start()
    app.extensions["tocsin_scheduler"] = scheduler
    log.info("scheduler started with jobs: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    return scheduler


def stop_scheduler(app: Flask, wait: bool = True) -> None:
    """Graceful stop, in order: claim nothing more, then let attempts under way finish (when
    `wait`, each bounded by its endpoint's timeout) and give claimed-but-unstarted deliveries
    back as `pending`. The send pool is stopped even without a scheduler (web workers send
    first attempts too).

    Running jobs are always waited for: the retry job sees the stop and ends within about a
    second, and one left running would claim again once the pool is gone (and start a new one).
    """
    pool.begin_stop()
    scheduler = app.extensions.pop("tocsin_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    pool.shutdown(wait=wait)
    if scheduler is not None:
        log.info("scheduler stopped")


def run_worker_forever(app: Flask) -> None:
    """`tocsin worker`: the scheduler alone, stopping cleanly on SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    start_scheduler(app)
    print("Tocsin worker running (scheduler only); stop with Ctrl+C or SIGTERM.", flush=True)
    stop.wait()
    stop_scheduler(app, wait=True)
