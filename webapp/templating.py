"""Template filters and globals shared by every page."""
from datetime import datetime

from flask import Flask

from webapp.timeutil import utcnow
from webapp.version import __version__


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def time_ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            break
    else:
        amount = f"{seconds} s"
    return f"in {amount}" if future else f"{amount} ago"


def register(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = format_time
    app.jinja_env.filters["ago"] = time_ago

    @app.context_processor
    def inject_globals():
        from webapp.services.delivery.jobs import scheduler_banner_needed

        return {"tocsin_version": __version__, "scheduler_banner_needed": scheduler_banner_needed}
