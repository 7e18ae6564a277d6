"""gunicorn settings for Tocsin: `gunicorn -c gunicorn.conf.py wsgi:app` (after `flask --app wsgi db upgrade`).

Environment: PORT (8000), GUNICORN_WORKERS (2), GUNICORN_THREADS (4), SECRET_KEY (required),
TOCSIN_SCHEDULER (on = each worker also runs the scheduler), PROMETHEUS_MULTIPROC_DIR (where
workers keep their metric samples; a fresh temporary directory when unset). Command-line flags
such as `--bind 0.0.0.0:8000` override these.

Stopping (SIGTERM to the master): each worker stops claiming at once, finishes its HTTP
requests, then lets delivery attempts under way finish (each bounded by its endpoint timeout,
within graceful_timeout) and gives claimed-but-unstarted deliveries back as `pending`. A worker
killed after graceful_timeout leaves its rows to their lease, and another process takes them.
"""
import os
import shutil
import signal
import sys
import tempfile

bind = f"127.0.0.1:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("GUNICORN_WORKERS") or 2)
# 4 threads: on 2 cores API ingestion measured the same with 8 (each worker is CPU-bound under its
# GIL), and fewer threads contend less for SQLite's write lock.
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
accesslog = "-"
# The default access line, built cheaply (see webapp/access_log.py); imported in the master, which
# must not import prometheus_client before on_starting (tests/test_access_log.py checks).
logger_class = "webapp.access_log.AccessLogger"
graceful_timeout = 30
# gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl: several servers on one host
# (hosts sharing a home directory, the benchmark, the tests) would fight over that one path.
control_socket_disable = True


def on_starting(server):
    """Refuse to start without SECRET_KEY, in one line, before any worker forks."""
    if not os.environ.get("SECRET_KEY") and os.environ.get("TOCSIN_ENV", "production") != "development":
        sys.stderr.write("Tocsin: SECRET_KEY is not set; export SECRET_KEY=<a long random string> "
                         "before starting gunicorn.\n")
        sys.stderr.flush()
        raise SystemExit(1)
    # Each worker sizes its database pool from the threads that can use it (webapp/database.py
    # pool_sizes); server.cfg has the final figure, --threads included.
    os.environ["TOCSIN_WEB_THREADS"] = str(server.cfg.threads)
    _prepare_metrics_dir()


METRICS_DIR_PREFIX = "tocsin-prometheus-"


def _prepare_metrics_dir() -> None:
    """prometheus_client picks multi-process mode when it is imported, so the directory is set
    here, in the master, before any worker imports the app (this is why `--preload` is not
    used). Samples from an earlier run are removed: they would be counted again."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
        return
    os.makedirs(directory, exist_ok=True)
    if os.environ.get("GUNICORN_PID"):
        return  # a USR2 re-exec: the old master's workers still write here
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def on_exit(server):
    """Remove the metrics directory if on_starting made it (a USR2 re-exec makes its own)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(directory).startswith(METRICS_DIR_PREFIX) \
            and os.path.dirname(directory) == tempfile.gettempdir():
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker):
    """A dead worker's live gauges must not be reported any more (counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The scheduler owns threads and connections, so it starts in each worker, never in the master."""
    app = worker.wsgi
    if app.config.get("TOCSIN_SCHEDULER"):
        from webapp.scheduler import start_scheduler

        start_scheduler(app)
    _stop_claiming_on(signal.SIGTERM)


def _stop_claiming_on(signum) -> None:
    """gunicorn has no hook for a worker's SIGTERM, and worker_exit runs only once its HTTP
    requests are done: stop claiming deliveries the moment the signal arrives instead."""
    from webapp.services.delivery import pool  # imported now, never inside the handler

    gunicorn_handler = signal.getsignal(signum)

    def stop_claiming(received, frame):
        pool.begin_stop()  # only sets a flag: safe in a signal handler
        gunicorn_handler(received, frame)

    signal.signal(signum, stop_claiming)
    signal.siginterrupt(signum, False)  # as gunicorn does: let system calls in requests finish


def worker_int(worker):
    """SIGINT / SIGQUIT (quick stop): claim nothing more; worker_exit, which follows, stops the rest."""
    from webapp.services.delivery import pool

    pool.begin_stop()


def worker_exit(server, worker):
    """After the worker's last request: stop the scheduler, let attempts under way finish (bounded
    by their timeouts, within graceful_timeout) and give unstarted claims back as `pending`."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from webapp.scheduler import stop_scheduler
        from webapp.services import api_cache

        stop_scheduler(app, wait=True)
        api_cache.stop(app)
