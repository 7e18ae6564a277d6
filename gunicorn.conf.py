"""gunicorn settings for Tocsin: `gunicorn -c gunicorn.conf.py wsgi:app` (after `flask --app wsgi db upgrade`).

Environment: PORT (8000), GUNICORN_WORKERS (2), GUNICORN_THREADS (4), SECRET_KEY (required),
TOCSIN_SCHEDULER (on = each worker also runs the scheduler). Command-line flags such as
`--bind 0.0.0.0:8000` override these.
"""
import os
import sys

bind = f"127.0.0.1:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("GUNICORN_WORKERS") or 2)
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
accesslog = "-"
graceful_timeout = 30


def on_starting(server):
    """Refuse to start without SECRET_KEY, in one line, before any worker forks."""
    if not os.environ.get("SECRET_KEY") and os.environ.get("TOCSIN_ENV", "production") != "development":
        sys.stderr.write("Tocsin: SECRET_KEY is not set; export SECRET_KEY=<a long random string> "
                         "before starting gunicorn.\n")
        sys.stderr.flush()
        raise SystemExit(1)


def post_worker_init(worker):
    """The scheduler owns threads and connections, so it starts in each worker, never in the master."""
    app = worker.wsgi
    if app.config.get("TOCSIN_SCHEDULER"):
        from webapp.scheduler import start_scheduler

        start_scheduler(app)


def worker_exit(server, worker):
    """Stop this worker's scheduler without waiting for a running job (its leases expire)."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from webapp.scheduler import stop_scheduler

        stop_scheduler(app, wait=False)
