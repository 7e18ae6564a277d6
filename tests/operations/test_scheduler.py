"""The scheduler wiring and its heartbeat (webapp/scheduler.py): the periodic jobs run at
their configured intervals and the due work on the wake-up loop, each scheduler process keeps one heartbeat row, and when none has beaten
for a minute every dashboard page says that alerts are not being retried and how to fix it —
the commonest self-hosting mistake is a background process that is not running."""
import os
import socket
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.models import SchedulerHeartbeat
from webapp.scheduler import start_scheduler, stop_scheduler
from webapp.timeutil import utcnow

BANNER = "alerts are not being retried"
WORKER_COMMAND = "flask --app wsgi tocsin worker"
INTERVALS = {"heartbeat": ("TOCSIN_HEARTBEAT_INTERVAL", 0.2), "prune_history": ("TOCSIN_PRUNE_INTERVAL", 1800.0),
             "prune_auth_throttle": ("TOCSIN_PRUNE_INTERVAL", 1800.0),
             "release_silenced": ("TOCSIN_SWEEP_INTERVAL", 1.3)}
# Due work: on the wake-up loop, whose longest sleeps the old intervals became.
WAKEUP_SOURCES = ["sweep_deadlines", "sweep_missed_runs", "sweep_repeats", "retry_due_deliveries"]
LONGEST_SLEEPS = {"TOCSIN_RETRY_INTERVAL": 0.7, "TOCSIN_SWEEP_INTERVAL": 1.3, "TOCSIN_WAKEUP_POLL": 0.4}


@pytest.fixture
def app_config():
    return {**{key: seconds for key, seconds in INTERVALS.values()}, **LONGEST_SLEEPS}


@pytest.fixture
def scheduler(app):
    scheduler = start_scheduler(app)
    try:
        yield scheduler
    finally:
        stop_scheduler(app)


def heartbeats(db) -> list[SchedulerHeartbeat]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(SchedulerHeartbeat).execution_options(populate_existing=True)))


def wait_for(db, condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def add_beat(db, age_seconds: float, pid: int = 4242) -> None:
    now = utcnow()
    db.session.add(SchedulerHeartbeat(host="worker-host", pid=pid, started_at=now - timedelta(hours=1),
                                      last_beat_at=now - timedelta(seconds=age_seconds)))
    db.session.commit()


def dashboard_pages(app) -> list[str]:
    """Every page a signed-in user can open without an id: the banner must be on each."""
    skipped = ("/api/", "/static", "/healthz", "/metrics", "/login", "/signup", "/logout")
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(skipped)})


def test_start_scheduler_registers_every_job_with_its_configured_interval(app, scheduler):
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(INTERVALS)
    for job_id, (key, seconds) in INTERVALS.items():
        assert jobs[job_id].trigger.interval == timedelta(seconds=seconds) == timedelta(seconds=app.config[key])
        assert jobs[job_id].max_instances == 1  # a slow run is never overlapped by the next one
    assert app.extensions["tocsin_scheduler"] is scheduler


def test_start_scheduler_runs_the_due_work_on_one_wake_up_loop_with_the_intervals_as_longest_sleeps(app, scheduler):
    loop = app.extensions["tocsin_wakeups"]
    assert loop.running and [source.name for source in loop.sources] == WAKEUP_SOURCES
    retries = loop.sources[-1]
    assert retries.longest_sleep == app.config["TOCSIN_RETRY_INTERVAL"]
    # SQLite: the short poll is the longest sleep (PostgreSQL: TOCSIN_SWEEP_INTERVAL, NOTIFY wakes it).
    assert loop.longest_sleep == app.config["TOCSIN_WAKEUP_POLL"]


def test_scheduler_keeps_one_heartbeat_row_per_process_with_host_pid_started_and_last_beat(app, db, scheduler):
    (row,) = wait_for(db, lambda: heartbeats(db), "the first heartbeat")
    assert (row.host, row.pid) == (socket.gethostname(), os.getpid())
    assert row.started_at <= row.last_beat_at <= utcnow()
    first_beat = row.last_beat_at

    wait_for(db, lambda: heartbeats(db)[0].last_beat_at > first_beat, "a second heartbeat")
    (row,) = heartbeats(db)  # the same row is updated, not a new one per beat
    assert row.started_at < row.last_beat_at


def test_stopping_the_scheduler_removes_it_from_the_app(app, scheduler):
    loop = app.extensions["tocsin_wakeups"]
    stop_scheduler(app)
    assert "tocsin_scheduler" not in app.extensions and "tocsin_wakeups" not in app.extensions
    assert not scheduler.running
    assert not loop.running and not any(thread.is_alive() for thread in loop._threads)


@pytest.mark.parametrize("beat_age", [None, 61])
def test_every_dashboard_page_shows_the_no_scheduler_banner_when_no_scheduler_beat_for_a_minute(
        app, db, client, auth, beat_age):
    auth.signup()
    if beat_age is not None:
        add_beat(db, beat_age)
    pages = dashboard_pages(app)
    assert {"/overview", "/jobs", "/alerts", "/settings/alerts/deliveries"} <= set(pages)
    shown = redirects = 0
    for path in pages:
        response = client.get(path)
        if response.status_code in (301, 302, 303, 307, 308):
            redirects += 1  # "/" and "/settings/alerts" are checked at their targets
            continue
        html = response.get_data(as_text=True)
        assert BANNER in html and WORKER_COMMAND in html, path
        shown += 1
    assert redirects <= 2 and shown == len(pages) - redirects


def test_a_fresh_heartbeat_from_any_process_hides_the_banner(app, db, client, auth):
    auth.signup()
    add_beat(db, 600, pid=1)  # a worker that stopped long ago...
    add_beat(db, 5, pid=2)  # ...and one that is alive
    for path in dashboard_pages(app):
        assert BANNER not in client.get(path).get_data(as_text=True), path


def test_banner_is_not_shown_to_signed_out_visitors(client):
    assert BANNER not in client.get("/login").get_data(as_text=True)


def test_running_scheduler_hides_the_banner_and_keeps_healthz_fresh(app, db, client, auth, scheduler):
    auth.signup()
    wait_for(db, lambda: heartbeats(db), "the first heartbeat")
    assert BANNER not in client.get("/overview").get_data(as_text=True)
    assert client.get("/healthz").json["scheduler_age_seconds"] < 60
