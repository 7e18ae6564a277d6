"""Template filters and globals shared by every page.

Times are shown in the reader's zone (see `reader_zone`): `|ago` is relative with the exact
time on hover, `|datetime` is exact with the relative time on hover, both as `<time>` elements
whose `datetime` attribute is the UTC instant. Inside attribute values or other plain text use
`|datetime_text` / `|ago_text`."""
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, has_request_context, request, url_for
from markupsafe import Markup, escape

from webapp.timeutil import isoformat, local_input_value, utc_offset_label, utcnow, zone_or_none
from webapp.version import __version__

ZONE_COOKIE = "tz"
QUICK_RANGES = (("Last hour", 3600), ("Last 24 hours", 86400), ("Last 7 days", 7 * 86400))
PAGING_ARGUMENTS = ("since", "until", "before", "after", "page")


@dataclass(frozen=True)
class ReaderZone:
    """The zone times are shown in, and where it came from: `account`, `browser` (the `tz`
    cookie tocsin.js sets) or `default` (UTC until the browser has told us its zone)."""

    zone: ZoneInfo
    source: str

    @property
    def name(self) -> str:
        return self.zone.key


def reader_zone() -> ReaderZone:
    """The signed-in user's chosen zone, else the browser's (cookie), else UTC."""
    if not has_request_context():
        return ReaderZone(ZoneInfo("UTC"), "default")
    cached = getattr(request, "_tocsin_reader_zone", None)  # per request, never shared through `g`
    if cached is None:
        from flask_login import current_user

        chosen = zone_or_none(getattr(current_user, "time_zone", None)) if current_user.is_authenticated else None
        browser = zone_or_none(request.cookies.get(ZONE_COOKIE))
        if chosen:
            cached = ReaderZone(chosen, "account")
        elif browser:
            cached = ReaderZone(browser, "browser")
        else:
            cached = ReaderZone(ZoneInfo("UTC"), "default")
        request._tocsin_reader_zone = cached
    return cached


def browser_zone_name() -> str | None:
    """The zone the browser reported in its `tz` cookie, if valid."""
    if not has_request_context():
        return None
    zone = zone_or_none(request.cookies.get(ZONE_COOKIE))
    return zone.key if zone else None


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(reader_zone().zone)


def exact_text(value: datetime | None) -> str:
    """`2026-12-02 14:03:05 CET` in the reader's zone; "—" for None."""
    if value is None:
        return "—"
    return _local(value).strftime("%Y-%m-%d %H:%M:%S %Z")


def hover_text(value: datetime) -> str:
    """`2026-12-02 14:03:05 Europe/Paris (UTC+01:00)`: the exact time with zone and offset."""
    local = _local(value)
    return f"{local:%Y-%m-%d %H:%M:%S} {reader_zone().name} ({utc_offset_label(local)})"


def ago_text(value: datetime | None) -> str:
    """`5 min ago` / `in 2 h`; "never" for None."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
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


def _time_element(value: datetime, kind: str, text: str, title: str) -> Markup:
    # data-zone-default: rendered in UTC only because the browser had not yet told its zone;
    # tocsin.js rewrites such elements in the browser's zone (the next page comes from the server).
    default = ' data-zone-default=""' if reader_zone().source == "default" else ""
    return Markup('<time datetime="{}" data-kind="{}" title="{}"{}>{}</time>').format(
        isoformat(value), kind, title, Markup(default), text)


def format_time(value: datetime | None) -> Markup | str:
    """The exact time, relative time on hover."""
    if value is None:
        return "—"
    return _time_element(value, "datetime", exact_text(value), ago_text(value))


def time_ago(value: datetime | None) -> Markup | str:
    """The relative time, exact time (zone and offset) on hover."""
    if value is None:
        return "never"
    return _time_element(value, "ago", ago_text(value), hover_text(value))


def zone_label() -> Markup:
    """`Europe/Paris`, marked so tocsin.js can name the browser's zone before the cookie exists."""
    zone = reader_zone()
    if zone.source == "default":
        return Markup('<span data-zone-name="">{}</span>').format(zone.name)
    return escape(zone.name)


def date_input_value(text: str | None, inclusive_end: bool = False) -> str:
    """What a datetime-local input shows for a typed `since`/`until` (old formats normalised)."""
    from webapp.timeutil import InvalidMoment, parse_local

    if not text:
        return ""
    try:
        return local_input_value(parse_local(text, reader_zone().zone, inclusive_end=inclusive_end),
                                 reader_zone().zone)
    except InvalidMoment:
        return ""


def quick_range_links() -> list[dict]:
    """The date-range picker's "last hour / 24 hours / 7 days" links for the current page."""
    if not has_request_context() or request.endpoint is None:
        return []
    kept = {name: value for name, value in request.args.items() if name not in PAGING_ARGUMENTS and value}
    now = utcnow().replace(second=0, microsecond=0)
    links = []
    for label, seconds in QUICK_RANGES:
        # UTC with a Z, so the link means the same whichever zone the next request is read in.
        since = datetime.fromtimestamp(now.timestamp() - seconds, UTC).strftime("%Y-%m-%dT%H:%MZ")
        links.append({"label": label, "url": url_for(request.endpoint, **(request.view_args or {}), **kept,
                                                     since=since)})
    return links


def register(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = format_time
    app.jinja_env.filters["ago"] = time_ago
    app.jinja_env.filters["datetime_text"] = exact_text
    app.jinja_env.filters["ago_text"] = ago_text

    @app.context_processor
    def inject_globals():
        from webapp.services.delivery.jobs import scheduler_banner_needed

        return {"tocsin_version": __version__, "scheduler_banner_needed": scheduler_banner_needed,
                "reader_zone": reader_zone, "zone_label": zone_label, "date_input_value": date_input_value,
                "quick_range_links": quick_range_links, "browser_zone_name": browser_zone_name}
