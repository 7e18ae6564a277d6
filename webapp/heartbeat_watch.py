"""The web processes' share of the `scheduler_stalled` check: a stalled scheduler cannot notice
itself, so requests check (throttled, services/delivery/jobs.py `watch_heartbeat`) too."""
from flask import Flask


def init_app(app: Flask) -> None:
    from webapp.services.delivery import jobs

    app.before_request(lambda: jobs.watch_heartbeat(app))
