"""APScheduler wiring only: which job runs how often. The work itself lives in services."""
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from webapp.extensions import db
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


def heartbeat(app: Flask) -> None:
    """Record that this process's scheduler is alive (one row per process, kept per app)."""
    from webapp.services import heartbeat as heartbeat_service

    app.extensions["tocsin_heartbeat_id"] = heartbeat_service.beat(app.extensions.get("tocsin_heartbeat_id"))


def build_scheduler(app: Flask) -> BackgroundScheduler:
    # APScheduler logs every job run at INFO (every 2 s): keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    config = app.config
    scheduler.add_job(_in_app_context(app, heartbeat), "interval", seconds=config["TOCSIN_HEARTBEAT_INTERVAL"],
                      id="heartbeat", name="heartbeat", next_run_time=_now())
    for job_id, interval_key in _engine_jobs():
        function = _engine_job_function(job_id)
        if function is not None:
            scheduler.add_job(_in_app_context(app, function), "interval", seconds=config[interval_key],
                              id=job_id, name=job_id, next_run_time=_now())
    return scheduler


def _engine_jobs():
    return (("retry_due_deliveries", "TOCSIN_RETRY_INTERVAL"),
            ("sweep_deadlines", "TOCSIN_SWEEP_INTERVAL"),
            ("prune_history", "TOCSIN_PRUNE_INTERVAL"))


def _engine_job_function(job_id: str):
    """The service function for a job (webapp/services/engine_jobs.py)."""
    from webapp.services import engine_jobs

    return getattr(engine_jobs, job_id, None)


def _now():
    return utcnow()


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
    from webapp.services import dispatch

    dispatch.begin_stop()
    scheduler = app.extensions.pop("tocsin_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    dispatch.shutdown(wait=wait)
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
