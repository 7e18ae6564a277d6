"""Scheduler wiring only: which job runs when. The work itself lives in services.

Due work (deadlines, missed runs, alert repeats, delivery retries) runs on the wake-up loop
(webapp/wakeups.py), which sleeps until the earliest next due moment. Work that is periodic by
nature (the heartbeat, pruning old history) stays on APScheduler intervals.
"""
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from webapp.database_errors import log_failure
from webapp.extensions import db
from webapp.services import throttle
from webapp.services.alerting import due as alerting_due
from webapp.services.alerting import lifecycle, sweeps
from webapp.services.delivery import jobs as engine_jobs
from webapp.services.delivery import pool
from webapp.services.silences import holding as silence_holding
from webapp.timeutil import utcnow
from webapp.wakeups import Source, WakeupLoop

log = logging.getLogger(__name__)


def _in_app_context(app: Flask, function):
    """Run a job inside its own app context and always release the session (thread safety)."""
    def run():
        with app.app_context():
            try:
                function(app)
            except Exception as error:
                log_failure(log, error, f"scheduler job {function.__name__} failed")
                db.session.rollback()
            finally:
                db.session.remove()
    run.__name__ = function.__name__
    return run


def _jobs(config) -> tuple:
    """The interval jobs: (job id, the service function it runs, its interval in seconds)."""
    return (
        ("heartbeat", engine_jobs.record_heartbeat, config["TOCSIN_HEARTBEAT_INTERVAL"]),
        ("prune_history", engine_jobs.prune_history, config["TOCSIN_PRUNE_INTERVAL"]),
        ("prune_auth_throttle", throttle.prune, config["TOCSIN_PRUNE_INTERVAL"]),
        ("release_silenced", silence_holding.release_ended, config["TOCSIN_SWEEP_INTERVAL"]),
    )


def wakeup_sources(config) -> list:
    """The wake-up loop's sources, in the order a pass runs them: alerts first."""
    return [
        Source("sweep_deadlines", sweeps.sweep_deadlines, alerting_due.next_deadline),
        Source("sweep_missed_runs", sweeps.sweep_missed_runs, alerting_due.next_missed_slot),
        Source("sweep_repeats", lifecycle.sweep_repeats, alerting_due.next_repeat),
        engine_jobs.RetrySource(longest_sleep=config["TOCSIN_RETRY_INTERVAL"]),
    ]


def build_scheduler(app: Flask) -> BackgroundScheduler:
    # APScheduler logs every job run at INFO: keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for job_id, function, seconds in _jobs(app.config):
        scheduler.add_job(_in_app_context(app, function), "interval", seconds=seconds,
                          id=job_id, name=job_id, next_run_time=utcnow())
    return scheduler


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the background scheduler and the wake-up loop in this process (call after any fork)."""
    scheduler = build_scheduler(app)
    scheduler.start()
    app.extensions["tocsin_scheduler"] = scheduler
    loop = app.extensions["tocsin_wakeups"] = WakeupLoop(app, wakeup_sources(app.config)).start()
    log.info("scheduler started with jobs: %s; on wake-ups: %s", ", ".join(job.id for job in scheduler.get_jobs()),
             ", ".join(source.name for source in loop.sources))
    return scheduler


def stop_scheduler(app: Flask, wait: bool = True) -> None:
    """Graceful stop, in order: claim nothing more, then let attempts under way finish (when
    `wait`, each bounded by its endpoint's timeout) and give claimed-but-unstarted deliveries
    back as `pending`. The send pool is stopped even without a scheduler (web workers send
    first attempts too).

    The wake-up loop is always waited for: its retry pass sees the stop and ends at once, and
    one left running would claim again once the pool is gone (and start a new one).
    """
    pool.begin_stop()
    loop = app.extensions.pop("tocsin_wakeups", None)
    if loop is not None:
        loop.stop()
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
